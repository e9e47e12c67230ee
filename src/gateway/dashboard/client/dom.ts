// Building DOM nodes without HTML strings: every text from the API goes through textContent or an
// attribute value, so a version id or a reason such as `<img onerror=...>` is shown, never run.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** `h('td', { class: 'num', title: x }, 'text', otherNode)`; `null`/`false` children are skipped. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      // Event handlers are never set from here: an `on...` attribute would be script from a string.
      if (name.startsWith('on')) throw new Error(`h(): refusing event attribute ${name}`);
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: element #${id} is missing from the page`);
  return el as T;
}

/** A small coloured label; `kind` picks the colour from the stylesheet (`.badge.ok`, `.badge.bad`...). */
export function badge(text: string, kind: string, title?: string): HTMLSpanElement {
  return h('span', { class: `badge ${kind}`, title }, text);
}

/** `production` / `candidate` in their colours. */
export function aliasBadge(alias: string): HTMLSpanElement {
  return badge(alias, alias === 'production' ? 'prod' : alias === 'candidate' ? 'cand' : 'muted');
}

/** An explanation shown where data would be: says why it is empty and what makes it appear. */
export function emptyState(title: string, hint: string): HTMLDivElement {
  return h('div', { class: 'empty' }, h('strong', null, title), h('span', null, hint));
}

/** A table inside a horizontally scrolling wrapper, so narrow windows scroll it instead of squashing it. */
export function table(
  headers: readonly (string | { text: string; class?: string; title?: string })[],
  rows: readonly HTMLTableRowElement[],
  label: string,
): HTMLDivElement {
  const head = h(
    'tr',
    null,
    ...headers.map((x) =>
      typeof x === 'string'
        ? h('th', { scope: 'col' }, x)
        : h('th', { scope: 'col', class: x.class, title: x.title }, x.text),
    ),
  );
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { 'aria-label': label }, h('thead', null, head), h('tbody', null, ...rows)),
  );
}
