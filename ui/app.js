// depot's web UI: sign in, upload by drop or picker with progress, browse and
// search your files, preview and share them, and follow your upload
// history; files shared with you and your links (#sharing), API keys (#keys)
// and, for admins, users and invites (#admin).

import { showAdmin } from './admin.js';
import { auth, ensureSession, getJson, signIn, signOut, whenSignedOut } from './api.js';
import { setUpDetails } from './details.js';
import { activate, currentFolder, deleteFiles, forgetSelection, refreshFiles, setUpFileList, view } from './filelist.js';
import { showKeys } from './keys.js';
import { setUpShare } from './share.js';
import { showSharing } from './sharing.js';
import { el, humanDate, humanSize } from './format.js';
import { report } from './toast.js';
import { setUpUploadList, startUpload } from './uploads.js';

const $ = (id) => document.getElementById(id);

// The tab's session, asked for on sign-in. Uploads wait for it, so that a file
// dropped the moment the list appears still joins the session (and becomes its
// active file).
let sessionReady = Promise.resolve(null);

// ── Sign in and out ────────────────────────────────────────────────────────

const VIEWS = ['files', 'sharing', 'keys', 'admin'];

function showSignIn(message = '') {
  for (const name of VIEWS) $(`${name}-view`).hidden = true;
  $('account').hidden = true;
  $('nav').hidden = true;
  $('auth-view').hidden = false;
  $('auth-error').textContent = message;
  // An invite link (/#invite=…) fills in its code for a new account.
  const invite = location.hash.startsWith('#invite=') ? decodeURIComponent(location.hash.slice(8)) : '';
  if (invite) {
    $('auth-invite').value = invite;
    $('auth-title').textContent = 'Create your depot account';
  }
  $('auth-username').focus();
}

// The page the address names (#files, #keys, #admin), once signed in.
async function route() {
  const asked = location.hash.slice(1);
  const name = VIEWS.includes(asked) && (asked !== 'admin' || auth.admin) ? asked : 'files';
  $('auth-view').hidden = true;
  $('account').hidden = false;
  $('nav').hidden = false;
  $('nav-admin').hidden = !auth.admin;
  $('whoami').textContent = auth.username;
  document.body.classList.toggle('read-only', auth.readOnly);
  for (const view of VIEWS) $(`${view}-view`).hidden = view !== name;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (name === 'keys') return showKeys();
  if (name === 'sharing') return showSharing();
  if (name === 'admin') return showAdmin();
  return showFiles();
}

window.addEventListener('hashchange', () => {
  if (auth.token) route().catch(report);
  else if (location.hash.startsWith('#invite=')) showSignIn();
});

async function showFiles() {
  sessionReady = ensureSession();
  const session = await sessionReady;
  view.activeFile = session.active_file;
  await Promise.all([refreshFiles(), refreshHistory()]);
}

$('auth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const mode = event.submitter?.value === 'register' ? 'register' : 'login';
  const form = new FormData(event.target);
  $('auth-error').textContent = '';
  try {
    await signIn(mode, form.get('username'), form.get('password'), form.get('invite'));
    event.target.reset();
    $('auth-title').textContent = 'Sign in to depot';
    if (location.hash.startsWith('#invite=')) history.replaceState(null, '', location.pathname);
    await route();
  } catch (error) {
    $('auth-error').textContent = error.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  await signOut();
  $('file-rows').replaceChildren();
  $('history-rows').replaceChildren();
  $('uploads').replaceChildren();
  forgetSelection();
  showSignIn();
});

whenSignedOut(showSignIn);

// ── The file list ──────────────────────────────────────────────────────────

setUpShare();
setUpFileList({ deleted: () => Promise.all([refreshFiles(), refreshHistory()]) });
setUpDetails({ activate, remove: (name) => deleteFiles([name]) });

// ── History ────────────────────────────────────────────────────────────────

// Every upload of the account (in any browser or client), or only this tab's session's.
let historyAsked = 0;
async function refreshHistory() {
  const asked = ++historyAsked;
  const scope = $('history-scope').value;
  const history = await getJson(`/api/ingestion/history?page_size=20&scope=${scope}`);
  if (asked !== historyAsked) return;
  $('history-rows').replaceChildren(...history.records.map((record) => el(
    'tr',
    { class: `status-${record.status}` },
    el('td', { 'data-label': 'Status' }, el('span', { class: `badge ${record.status}`, text: record.status })),
    el('td', { 'data-label': 'File', class: 'wrap', text: record.file_name || record.filename }),
    el('td', { 'data-label': 'Size', text: record.size ? humanSize(record.size) : '' }),
    el('td', { 'data-label': 'Started', text: humanDate(record.started_at) }),
    el('td', { 'data-label': 'Error', class: 'wrap', text: record.error_message || '' }),
  )));
  $('history-empty').hidden = history.records.length > 0;
}

// ── Uploads ────────────────────────────────────────────────────────────────

// Each file goes into the folder shown, under its path inside what was
// chosen or dropped (a folder's files keep their folders).
async function uploadAll(files) {
  const description = $('upload-description').value.trim();
  const folder = currentFolder();
  // Without a session (it could not be made) the uploads go on outside one.
  await sessionReady.catch(() => null);
  for (const { file, path } of files) {
    startUpload(file, {
      name: `${folder}${path}`,
      description,
      session: auth.session,
      stored: refreshAll,
      failed: () => refreshHistory().catch(report),
    });
  }
}

// Answers may cross: only the session asked for last names the current dataset.
let sessionAsked = 0;

// The list, the session's active file (the upload that finished last) and history.
function refreshAll() {
  const asked = ++sessionAsked;
  const files = ensureSession().then((session) => {
    if (asked === sessionAsked) view.activeFile = session.active_file;
    return refreshFiles();
  });
  Promise.all([files, refreshHistory()]).catch(report);
}

$('file-input').addEventListener('change', (event) => {
  uploadAll([...event.target.files].map((file) => ({ file, path: file.name })));
  event.target.value = '';
});

// A folder chosen: every file in it, named by its path from the folder's parent.
$('folder-input').addEventListener('change', (event) => {
  uploadAll([...event.target.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  event.target.value = '';
});

// The files of a drop, folders walked to the bottom: each with its path
// from what was dropped (`reports/2024/q1.csv`).
async function droppedFiles(items) {
  const found = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      found.push({ file, path: `${prefix}${file.name}` });
      return;
    }
    const reader = entry.createReader();
    // A directory reader answers in batches until an empty one.
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  };
  // Read now, while the drop lasts: an item without an entry (made by a
  // page, not a file system) is a file as it is.
  const dropped = [...items]
    .filter((item) => item.kind === 'file')
    .map((item) => ({ entry: item.webkitGetAsEntry?.(), file: item.getAsFile() }));
  for (const { entry, file } of dropped) {
    if (entry) await walk(entry, '');
    else if (file) found.push({ file, path: file.name });
  }
  return found;
}

// Files may be dropped anywhere on the page once signed in.
let dragDepth = 0;
const dropsAllowed = () => !$('files-view').hidden && !auth.readOnly;
document.addEventListener('dragenter', (event) => {
  if (!dropsAllowed()) return;
  event.preventDefault();
  dragDepth += 1;
  $('drop-overlay').hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop-overlay').hidden = true;
});
document.addEventListener('dragover', (event) => event.preventDefault());
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  $('drop-overlay').hidden = true;
  if (!dropsAllowed() || !event.dataTransfer) return;
  droppedFiles(event.dataTransfer.items).then(uploadAll).catch(report);
});

// ── Start ──────────────────────────────────────────────────────────────────

setUpUploadList();
$('history-scope').addEventListener('change', () => refreshHistory().catch(report));

if (auth.token) route().catch(report);
else showSignIn();
