// The list of the user's files: search, filters, sorting and pages; the
// usage against the quota; the current dataset (the session's active file);
// each row's Download and Delete; and a selection of several files to
// download or delete at once.

import { auth, download, fileUrl, getJson, request } from './api.js';
import { confirmDeletion } from './confirm.js';
import { showDetails } from './details.js';
import { el, humanDate, humanSize, quotaText } from './format.js';
import { report, toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

export const view = { page: 1, activeFile: null };

// The names ticked in the list; kept across refreshes while they are listed.
const selected = new Set();

// What the page does after files are deleted (its history changes too).
let afterDeletion = async () => {};

function listQuery() {
  const form = new FormData($('filters'));
  const query = new URLSearchParams({ page: view.page, page_size: PAGE_SIZE, sort: form.get('sort') });
  if (form.get('name')) query.set('name', form.get('name'));
  if (form.get('content_type')) query.set('content_type', form.get('content_type'));
  // Dates are whole local days, from the start of "From" to the end of "To".
  if (form.get('from')) query.set('created_after', new Date(`${form.get('from')}T00:00:00`).toISOString());
  if (form.get('to')) query.set('created_before', new Date(`${form.get('to')}T23:59:59.999`).toISOString());
  return query;
}

// Requests overlap (typing, several uploads ending): only the newest one's
// answer is shown, whatever order the answers arrive in.
let latest = 0;

export async function refreshFiles() {
  const asked = ++latest;
  const [response] = await Promise.all([request(`/api/v1/files/?${listQuery()}`), refreshUsage()]);
  const files = await response.json();
  if (asked !== latest) return;
  const total = Number(response.headers.get('X-Total-Count') || files.length);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (view.page > pages) {
    view.page = pages;
    return refreshFiles();
  }
  const listed = new Set(files.map((file) => file.file_name));
  for (const name of selected) if (!listed.has(name)) selected.delete(name);
  $('file-rows').replaceChildren(...files.map(fileRow));
  const filtered = [...new FormData($('filters')).entries()].some(([name, value]) => name !== 'sort' && value);
  $('files-empty').hidden = files.length > 0;
  $('files-empty').textContent = filtered ? 'No files match.' : 'No files yet: drop some on this page.';
  $('page-info').textContent = total ? `Page ${view.page} of ${pages} · ${total} files` : '';
  $('page-previous').disabled = view.page <= 1;
  $('page-next').disabled = view.page >= pages;
  showSelection();
  showActive();
}

// What the account stores, against its quota when it has one.
async function refreshUsage() {
  const usage = await getJson('/api/v1/usage');
  const { bytes: maxBytes, files: maxFiles } = usage.quota;
  const stored = `${usage.files} files, ${humanSize(usage.logical_bytes)}`;
  let text = `${stored} stored`;
  if (maxBytes || maxFiles) {
    const left = [];
    if (maxBytes) left.push(`${humanSize(Math.max(0, maxBytes - usage.logical_bytes))} left`);
    if (maxFiles) left.push(`${Math.max(0, maxFiles - usage.files)} files left`);
    text = `${stored} of a quota of ${quotaText(usage.quota)} · ${left.join(', ')}`;
  }
  const full = (maxBytes && usage.logical_bytes >= maxBytes) || (maxFiles && usage.files >= maxFiles);
  $('usage-text').textContent = text;
  $('usage').classList.toggle('full', Boolean(full));
  const meter = $('usage-meter');
  meter.hidden = !maxBytes;
  if (maxBytes) {
    Object.assign(meter, { min: 0, max: maxBytes, value: usage.logical_bytes, high: maxBytes * 0.9, optimum: 0 });
  }
}

function fileRow(file) {
  const name = file.file_name;
  const current = name === view.activeFile;
  const tick = el('input', {
    type: 'checkbox', 'aria-label': `Select ${name}`, checked: selected.has(name),
    onchange: (event) => {
      if (event.target.checked) selected.add(name);
      else selected.delete(name);
      showSelection();
    },
  });
  return el(
    'tr',
    { class: current ? 'active' : null, 'data-name': name },
    el('td', { class: 'pick' }, tick),
    el(
      'td',
      { 'data-label': 'Name' },
      el('button', { type: 'button', class: 'link', text: name, onclick: () => showDetails(name) }),
      current ? el('span', { class: 'badge', text: 'Current' }) : null,
      file.corrupt ? el('span', { class: 'badge danger', text: 'Corrupt' }) : null,
    ),
    el('td', { 'data-label': 'Size', text: humanSize(file.size) }),
    el('td', { 'data-label': 'Type', class: 'wrap', text: file.content_type }),
    el('td', { 'data-label': 'Created', text: humanDate(file.created_at) }),
    el('td', { 'data-label': 'Description', class: 'wrap', text: file.description }),
    el(
      'td',
      { class: 'actions' },
      el('button', {
        type: 'button', class: 'secondary small', text: 'Download', 'aria-label': `Download ${name}`,
        onclick: () => download(name).catch(report),
      }),
      el('button', {
        type: 'button', class: 'danger small writes', text: 'Delete…', 'aria-label': `Delete ${name}`,
        onclick: () => deleteFiles([name]).catch(report),
      }),
    ),
  );
}

function showSelection() {
  const shown = [...document.querySelectorAll('#file-rows input[type=checkbox]')];
  const all = $('select-all');
  all.checked = shown.length > 0 && shown.every((box) => box.checked);
  all.indeterminate = !all.checked && shown.some((box) => box.checked);
  $('selection').hidden = selected.size === 0;
  $('selection-count').textContent = `${selected.size} selected`;
}

// The file a session's analysis works on: the upload that finished last, or
// the one chosen with "Use as current dataset" (the session's active file).
function showActive() {
  const line = $('active-file');
  if (!view.activeFile) {
    line.replaceChildren('No current dataset yet: the next file you upload becomes it.');
    return;
  }
  line.replaceChildren(
    'Current dataset: ',
    el('strong', { text: view.activeFile }),
    el('span', { class: 'muted', text: ' — your latest upload, or the file you chose; what this session works on.' }),
  );
}

export async function activate(name) {
  const active = await getJson(`/api/v1/files/active/${auth.session}`, { method: 'POST', json: { file_name: name } });
  view.activeFile = active.file_name;
  toast(`${name} is now the current dataset.`);
  await refreshFiles();
}

// Deletes these files once confirmed, saying what became of each; whether
// every one went.
export async function deleteFiles(names) {
  const what = names.length === 1 ? names[0] : `${names.length} files`;
  if (!(await confirmDeletion(`Delete ${what}? This cannot be undone.`))) return false;
  const failed = [];
  for (const name of names) {
    try {
      await request(fileUrl(name), { method: 'DELETE' });
      selected.delete(name);
      if (view.activeFile === name) view.activeFile = null;
    } catch (error) {
      failed.push(`${name}: ${error.message}`);
    }
  }
  const deleted = names.length - failed.length;
  toast(failed.length ? `Not deleted — ${failed.join('; ')}` : `${what} deleted.`);
  if (deleted) await afterDeletion();
  return failed.length === 0;
}

// `after.deleted()`: what the page refreshes besides the list once files go.
export function setUpFileList(after) {
  afterDeletion = after.deleted;
  let searchTimer;
  $('filters').addEventListener('input', (event) => {
    clearTimeout(searchTimer);
    view.page = 1;
    const delay = event.target.name === 'name' ? 250 : 0;
    searchTimer = setTimeout(() => refreshFiles().catch(report), delay);
  });
  $('filters').addEventListener('submit', (event) => event.preventDefault());
  $('page-previous').addEventListener('click', () => { view.page -= 1; refreshFiles().catch(report); });
  $('page-next').addEventListener('click', () => { view.page += 1; refreshFiles().catch(report); });
  $('select-all').addEventListener('change', (event) => {
    for (const box of document.querySelectorAll('#file-rows input[type=checkbox]')) {
      box.checked = event.target.checked;
      box.dispatchEvent(new Event('change'));
    }
  });
  $('selection-download').addEventListener('click', async () => {
    for (const name of selected) await download(name).catch(report);
  });
  $('selection-delete').addEventListener('click', () => deleteFiles([...selected]).catch(report));
  $('selection-clear').addEventListener('click', () => {
    selected.clear();
    for (const box of document.querySelectorAll('#file-rows input[type=checkbox]')) box.checked = false;
    showSelection();
  });
}

export function forgetSelection() {
  selected.clear();
}
