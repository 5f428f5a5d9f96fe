// The list of the user's files: one folder at a time (breadcrumbs above,
// its subfolders first), or — once a search or filter is set — every file
// that matches, at any depth; sorting and pages; the usage against the
// quota; the current dataset (the session's active file); each row's
// Download, Move and Delete; a new folder; and a selection of several files
// to download or delete at once.

import { auth, download, fileUrl, getJson, request } from './api.js';
import { askName, confirmDeletion } from './confirm.js';
import { showDetails } from './details.js';
import { el, humanDate, humanSize, quotaText } from './format.js';
import { report, toast } from './toast.js';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;
// Entries of a folder's page (subfolders and files).
const FOLDER_PAGE = 200;

// `folder`: the folder shown, as its names' prefix (`reports/2024/`, `` for the top);
// `cursors`: where each page of a folder starts (the first at its beginning).
export const view = { page: 1, activeFile: null, folder: '', cursors: [null] };

/// Where uploads started now go: the folder shown.
export function currentFolder() {
  return view.folder;
}

/// Shows `folder` (a prefix ending with `/`, or `` for the top), from its first page.
export function openFolder(folder) {
  view.folder = folder;
  view.page = 1;
  view.cursors = [null];
  return refreshFiles();
}

function filtered() {
  return [...new FormData($('filters')).entries()].some(([name, value]) => name !== 'sort' && value);
}

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
  const searching = filtered();
  const [listing] = await Promise.all([searching ? searchPage() : folderPage(), refreshUsage()]);
  if (asked !== latest) return;
  if (listing.retry) return refreshFiles();
  const { folders, files, pages, total } = listing;
  const listed = new Set(files.map((file) => file.file_name));
  for (const name of selected) if (!listed.has(name)) selected.delete(name);
  showBreadcrumbs(searching);
  $('file-rows').replaceChildren(...folders.map(folderRow), ...files.map((file) => fileRow(file, searching)));
  $('files-empty').hidden = folders.length + files.length > 0;
  $('files-empty').textContent = searching
    ? 'No files match.'
    : view.folder
      ? 'This folder is empty: files you upload now go into it.'
      : 'No files yet: drop some on this page.';
  $('page-info').textContent = pages > 1 || total ? `Page ${view.page}${pages ? ` of ${pages}` : ''}${total ? ` · ${total} files` : ''}` : '';
  $('page-previous').disabled = view.page <= 1;
  $('page-next').disabled = searching ? view.page >= pages : !view.cursors[view.page];
  showSelection();
  showActive();
}

// A page of the files that match the search and filters, anywhere.
async function searchPage() {
  const response = await request(`/api/v1/files/?${listQuery()}`);
  const files = await response.json();
  const total = Number(response.headers.get('X-Total-Count') || files.length);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (view.page > pages) {
    view.page = pages;
    return { retry: true };
  }
  return { folders: [], files, pages, total };
}

// A page of the folder shown: its subfolders, then its files, sorted as asked.
async function folderPage() {
  const query = new URLSearchParams({ delimiter: '/', prefix: view.folder, limit: FOLDER_PAGE });
  const cursor = view.cursors[view.page - 1];
  if (cursor) query.set('cursor', cursor);
  const level = await getJson(`/api/v1/files/?${query}`);
  view.cursors[view.page] = level.next_cursor;
  const sort = new FormData($('filters')).get('sort') || '-created_at';
  const descending = sort.startsWith('-');
  const key = sort.replace('-', '');
  const value = (file) => (key === 'name' ? file.file_name.toLowerCase() : key === 'size' ? file.size : file.created_at);
  const files = [...level.files].sort((a, b) => {
    const order = value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0;
    return descending ? -order : order;
  });
  return { folders: level.folders, files, pages: 0, total: 0 };
}

// Where the list is: the top, then each folder on the way, each a link up.
function showBreadcrumbs(searching) {
  const crumbs = $('breadcrumbs');
  if (searching) {
    crumbs.replaceChildren(el('span', { text: 'Search results in all folders' }));
    return;
  }
  const parts = view.folder.split('/').filter(Boolean);
  const items = [];
  const link = (text, folder) => el('button', {
    type: 'button', class: 'link', text, onclick: () => openFolder(folder).catch(report),
  });
  items.push(parts.length ? link('Your files', '') : el('span', { 'aria-current': 'location', text: 'Your files' }));
  parts.forEach((part, index) => {
    items.push(el('span', { class: 'separator', text: '/' }));
    const folder = `${parts.slice(0, index + 1).join('/')}/`;
    items.push(index === parts.length - 1
      ? el('span', { 'aria-current': 'location', text: part })
      : link(part, folder));
  });
  crumbs.replaceChildren(...items);
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

function folderRow(folder) {
  return el(
    'tr',
    { class: 'folder', 'data-folder': folder.path },
    el('td', { class: 'pick' }),
    el(
      'td',
      { 'data-label': 'Name' },
      el('button', {
        type: 'button', class: 'link', text: `${folder.name}/`, 'aria-label': `Open folder ${folder.name}`,
        onclick: () => openFolder(folder.path).catch(report),
      }),
    ),
    el('td', { 'data-label': 'Size', text: humanSize(folder.size) }),
    el('td', { 'data-label': 'Type', text: `Folder · ${folder.files} ${folder.files === 1 ? 'file' : 'files'}` }),
    el('td', { 'data-label': 'Created' }),
    el('td', { 'data-label': 'Description' }),
    el(
      'td',
      { class: 'actions' },
      el('button', {
        type: 'button', class: 'secondary small writes', text: 'Move…', 'aria-label': `Move folder ${folder.name}`,
        onclick: () => moveFolder(folder).catch(report),
      }),
      el('button', {
        type: 'button', class: 'danger small writes', text: 'Delete…', 'aria-label': `Delete folder ${folder.name}`,
        onclick: () => deleteFolder(folder).catch(report),
      }),
    ),
  );
}

// The name a file is shown by: inside the folder shown, its own part.
function shownName(name, searching) {
  return !searching && name.startsWith(view.folder) ? name.slice(view.folder.length) : name;
}

function fileRow(file, searching) {
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
      el('button', { type: 'button', class: 'link', text: shownName(name, searching), title: name, onclick: () => showDetails(name) }),
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
        type: 'button', class: 'secondary small writes', text: 'Move…', 'aria-label': `Move ${name}`,
        onclick: () => moveFile(name).catch(report),
      }),
      el('button', {
        type: 'button', class: 'danger small writes', text: 'Delete…', 'aria-label': `Delete ${name}`,
        onclick: () => deleteFiles([name]).catch(report),
      }),
    ),
  );
}

// A file's new name, in any folder; nothing moves but its name.
async function moveFile(name) {
  const to = await askName(`Move or rename ${name} to (a name with folders, e.g. archive/2024/${name.split('/').pop()}):`, name);
  if (!to || to === name) return;
  const moved = await getJson(fileUrl(name), { method: 'PATCH', json: { file_name: to } });
  if (view.activeFile === name) view.activeFile = moved.file_name;
  selected.delete(name);
  toast(`${name} is now ${moved.file_name}.`);
  await refreshFiles();
}

const folderUrl = (path, query = '') => `/api/v1/folders/${encodeURIComponent(path.replace(/\/$/, ''))}${query}`;

// A folder's new path, with everything in it: all of it moves, or none.
async function moveFolder(folder) {
  const current = folder.path.replace(/\/$/, '');
  const to = await askName(`Move folder ${current} and its ${folder.files} files to:`, current);
  if (!to || to.replace(/\/$/, '') === current) return;
  const moved = await getJson(folderUrl(folder.path), { method: 'PATCH', json: { path: to } });
  toast(`${current} is now ${moved.path} (${moved.moved} files).`);
  await refreshFiles();
}

// Deletes a folder with every file in it, once confirmed with their count.
async function deleteFolder(folder) {
  const current = folder.path.replace(/\/$/, '');
  const what = `${folder.files} ${folder.files === 1 ? 'file' : 'files'}, ${humanSize(folder.size)}`;
  if (!(await confirmDeletion(`Delete folder ${current} with everything in it (${what})? This cannot be undone.`))) return;
  const deleted = await getJson(folderUrl(folder.path, '?recursive=true'), { method: 'DELETE' });
  toast(`${current} deleted (${deleted.deleted} files).`);
  await afterDeletion();
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
    view.cursors = [null];
    const delay = event.target.name === 'name' ? 250 : 0;
    searchTimer = setTimeout(() => refreshFiles().catch(report), delay);
  });
  $('filters').addEventListener('submit', (event) => event.preventDefault());
  $('page-previous').addEventListener('click', () => { view.page -= 1; refreshFiles().catch(report); });
  $('new-folder').addEventListener('click', async () => {
    const name = await askName('New folder name (files you upload next go into it):');
    const path = name?.split('/').map((part) => part.trim()).filter(Boolean).join('/');
    if (path) await openFolder(`${view.folder}${path}/`).catch(report);
  });
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
