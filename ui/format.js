// Numbers and dates as people read them, and DOM building without innerHTML:
// every text from the server goes in through textContent.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function humanSize(bytes) {
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const SCALES = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };

// A byte count as people write it (`10 GiB`, `500MB`, `1048576`), as the
// server reads `depot user quota --bytes`; null if it is not one.
export function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const scale = match && SCALES[(match[2] || 'b').toLowerCase()];
  return scale ? Math.round(Number(match[1]) * scale) : null;
}

// A byte count in the largest binary unit that holds it whole (`10 GiB`,
// `1536 KiB`, `100000`), so that parseSize gives it back unchanged.
export function exactSize(bytes) {
  for (let unit = UNITS.length - 1; unit > 0; unit -= 1) {
    const scale = 2 ** (10 * unit);
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale} ${UNITS[unit]}`;
  }
  return String(bytes);
}

// A quota (`{ bytes, files }`, 0 for no limit) in words.
export function quotaText(quota) {
  const parts = [];
  if (quota.bytes) parts.push(humanSize(quota.bytes));
  if (quota.files) parts.push(`${quota.files} files`);
  return parts.length ? parts.join(' in ') : 'no limit';
}

export function humanDate(rfc3339) {
  if (!rfc3339) return '';
  return new Date(rfc3339).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function humanDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds % 60)} s`;
}

// An element with attributes and children (elements or strings).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// A table with a header row and body rows of plain text.
export function textTable(columns, rows, caption) {
  return el(
    'div',
    { class: 'scroll' },
    el(
      'table',
      {},
      caption ? el('caption', { text: caption }) : null,
      el('thead', {}, el('tr', {}, ...columns.map((name) => el('th', { scope: 'col', text: name })))),
      el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map((cell) => el('td', { text: cell }))))),
    ),
  );
}
