// The POST /feedback body: one item, `{feedback: [...]}` or a bare array, checked all or nothing.
import { FlywheelError } from '../errors.js';
import { MAX_REQUEST_ID } from '../request-id.js';

const MAX_BATCH = 10_000;

export interface FeedbackItem {
  readonly request_id: string;
  readonly actual: number;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a POST /feedback body: `{request_id, actual}`, `{feedback: [...]}` or a bare array. Returns
 * the items or throws FLY_ERR_FEEDBACK listing every bad item (so a batch is all or nothing).
 */
export function parseFeedbackBody(body: unknown): { request_id: string; actual: number }[] {
  let items: unknown[];
  if (Array.isArray(body)) items = body;
  else if (isRecord(body) && Array.isArray(body.feedback)) items = body.feedback;
  else if (isRecord(body)) items = [body];
  else {
    throw new FlywheelError(
      'FLY_ERR_FEEDBACK',
      'feedback must be {"request_id": "...", "actual": <number>} or a batch {"feedback": [...]}',
    );
  }
  if (items.length === 0) throw new FlywheelError('FLY_ERR_FEEDBACK', 'feedback batch is empty');
  if (items.length > MAX_BATCH) {
    throw new FlywheelError('FLY_ERR_FEEDBACK', `feedback batch has more than ${MAX_BATCH} items`);
  }
  const problems: { index: number; problem: string }[] = [];
  const out: { request_id: string; actual: number }[] = [];
  items.forEach((item, index) => {
    if (!isRecord(item)) {
      problems.push({ index, problem: 'not an object' });
      return;
    }
    const id = item.request_id;
    if (typeof id !== 'string' || id === '' || id.length > MAX_REQUEST_ID) {
      problems.push({ index, problem: `request_id must be a string of 1 to ${MAX_REQUEST_ID} characters` });
      return;
    }
    if (typeof item.actual !== 'number' || !Number.isFinite(item.actual)) {
      problems.push({ index, problem: `actual must be a finite number, got ${JSON.stringify(item.actual)}` });
      return;
    }
    out.push({ request_id: id, actual: item.actual });
  });
  if (problems.length > 0) {
    throw new FlywheelError(
      'FLY_ERR_FEEDBACK',
      `feedback refused: ${problems.length} invalid item(s); nothing was recorded`,
      { problems },
    );
  }
  return out;
}
