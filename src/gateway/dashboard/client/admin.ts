// Operator actions: each one is confirmed in a dialog that asks for the admin token when the page does
// not hold one yet, then calls the gateway's admin API and reports its answer or its error as returned.
// The token is kept in sessionStorage only: it goes away with the tab, never into localStorage or a cookie.
import { byId, fill, h } from './dom.js';

const TOKEN_KEY = 'flywheel.adminToken';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the dialog asks every time
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage disabled: nothing is kept, which is the safe side
  }
}

export function forgetToken(): void {
  storeToken(null);
}

export interface AdminAction {
  /** What the dialog and the result say, e.g. `Set routing to canary, 10% to the candidate`. */
  readonly summary: string;
  readonly method: 'PUT' | 'POST';
  readonly path: string;
  readonly body: Record<string, unknown>;
  /** Adds the operator's reason to the body when given. */
  readonly withReason?: boolean;
}

export interface AdminResult {
  readonly ok: boolean;
  readonly status: number;
  readonly message: string;
}

/** The error the admin API returned (`{ error, code }`), or the status line when it said nothing. */
async function describeFailure(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown; details?: unknown };
    const error = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    const code = typeof body.code === 'string' ? ` [${body.code}]` : '';
    return `${error}${code}`;
  } catch {
    return `HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
  }
}

export async function callAdmin(action: AdminAction, token: string, reason: string): Promise<AdminResult> {
  const body = { ...action.body };
  if (action.withReason && reason.trim() !== '') body.reason = reason.trim();
  let res: Response;
  try {
    res = await fetch(action.path, {
      method: action.method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (err) {
    return { ok: false, status: 0, message: `the gateway did not answer (${(err as Error).message})` };
  }
  if (res.ok) return { ok: true, status: res.status, message: 'done' };
  // A refused token is dropped, so the next action asks for it again instead of failing the same way.
  if (res.status === 401) storeToken(null);
  return { ok: false, status: res.status, message: await describeFailure(res) };
}

/**
 * Shows the confirmation dialog for `action`; resolves with the result of the call, or null when the
 * operator cancels. Only one dialog is open at a time: the page's buttons are modal-blocked meanwhile.
 */
export function confirmAndRun(action: AdminAction): Promise<AdminResult | null> {
  const dialog = byId<HTMLDialogElement>('action-dialog');
  const form = byId<HTMLFormElement>('action-form');
  const tokenRow = byId('token-row');
  const tokenInput = byId<HTMLInputElement>('token-input');
  const reasonRow = byId('reason-row');
  const reasonInput = byId<HTMLInputElement>('reason-input');
  const error = byId('dialog-error');
  const submit = byId<HTMLButtonElement>('dialog-confirm');

  fill(byId('dialog-summary'), action.summary);
  fill(error);
  const saved = storedToken();
  tokenRow.hidden = saved !== null;
  tokenInput.value = '';
  reasonRow.hidden = action.withReason !== true;
  reasonInput.value = '';
  submit.disabled = false;

  return new Promise((resolve) => {
    const done = (result: AdminResult | null) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onClose = () => done(null);
    const onSubmit = async (ev: SubmitEvent) => {
      ev.preventDefault();
      const submitter = ev.submitter as HTMLButtonElement | null;
      if (submitter?.value === 'cancel') return done(null);
      const token = saved ?? tokenInput.value.trim();
      if (token === '') {
        fill(error, 'Enter the admin token (the gateway’s --admin-token).');
        return;
      }
      submit.disabled = true;
      fill(error, h('span', { class: 'muted' }, 'Sending…'));
      const result = await callAdmin(action, token, reasonInput.value);
      // Kept only once the gateway accepted it (any answer past its auth check), so a mistyped token
      // is not remembered.
      const authPassed = result.status !== 0 && result.status !== 401 && result.status !== 403;
      if (authPassed && saved === null) storeToken(token);
      done(result);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    (saved === null ? tokenInput : submit).focus();
  });
}
