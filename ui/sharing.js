// The Sharing page: files others shared with the user (read and download
// only), the user's links with their counters (copy, revoke), and a form for
// an upload link that lets someone without an account send files.

import { getJson, request, saveAs } from './api.js';
import { el, humanDate, humanSize, parseSize } from './format.js';

const $ = (id) => document.getElementById(id);

export async function showSharing() {
  $('links-error').textContent = '';
  await Promise.all([refreshShared(), refreshLinks()]);
}

function sharedUrl(file, suffix = '') {
  return `/api/v1/shared/${encodeURIComponent(file.owner)}/${encodeURIComponent(file.file_name)}${suffix}`;
}

async function refreshShared() {
  const files = await getJson('/api/v1/shared');
  $('shared-rows').replaceChildren(...files.map(sharedRow));
  $('shared-empty').hidden = files.length > 0;
}

// A shared file is the owner's: no link of the owner's to stream it through,
// so the browser gets it from memory.
async function saveShared(file) {
  const blob = await (await request(sharedUrl(file, '/content'))).blob();
  const url = URL.createObjectURL(blob);
  saveAs(url, file.file_name);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function sharedRow(file) {
  return el(
    'tr',
    { 'data-name': file.file_name },
    el('td', { 'data-label': 'Name', class: 'wrap', text: file.file_name }),
    el('td', { 'data-label': 'Owner', text: file.owner }),
    el('td', { 'data-label': 'Size', text: humanSize(file.size) }),
    el('td', { 'data-label': 'Shared', text: humanDate(file.shared_at) }),
    el('td', {}, el('button', {
      type: 'button', class: 'secondary small', text: 'Download',
      'aria-label': `Download ${file.file_name} from ${file.owner}`, onclick: () => saveShared(file),
    })),
  );
}

async function refreshLinks() {
  const links = await getJson('/api/v1/links');
  $('link-rows').replaceChildren(...links.map(linkRow));
  $('links-empty').hidden = links.length > 0;
}

// "2 of 3 downloads", "1 file"…
function used(link) {
  const [count, most, noun] = link.kind === 'upload'
    ? [link.files, link.max_files, 'files']
    : [link.downloads, link.max_downloads, 'downloads'];
  if (most != null) return `${count} of ${most} ${noun}`;
  return `${count} ${count === 1 ? noun.slice(0, -1) : noun}`;
}

function linkRow(link) {
  const what = link.kind === 'upload' ? 'Uploads to you' : link.file_name;
  const copy = el('button', {
    type: 'button', class: 'secondary small', text: 'Copy address', 'aria-label': `Copy the address of the link for ${what}`,
  });
  copy.addEventListener('click', async () => {
    await navigator.clipboard?.writeText(link.url).catch(() => {});
  });
  const revoke = el('button', {
    type: 'button', class: 'danger small writes', text: 'Revoke', 'aria-label': `Revoke the link for ${what}`,
  });
  revoke.addEventListener('click', async () => {
    await request(`/api/v1/links/${link.id}`, { method: 'DELETE' });
    await refreshLinks();
  });
  return el(
    'tr',
    { 'data-link': link.id },
    el('td', { 'data-label': 'For', class: 'wrap' }, what, el('br'), el('a', { href: link.url, class: 'muted', text: link.url })),
    el('td', { 'data-label': 'State', text: link.state === 'active' ? (link.password ? 'Active, password' : 'Active') : 'Ended' }),
    el('td', { 'data-label': 'Used', text: used(link) }),
    el('td', { 'data-label': 'Expires', text: link.expires_at ? humanDate(link.expires_at) : 'never' }),
    el('td', {}, copy, revoke),
  );
}

$('upload-link-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const json = {};
  if (form.get('expires_in')) json.expires_in = form.get('expires_in');
  if (form.get('max_files')) json.max_files = Number(form.get('max_files'));
  if (form.get('password')) json.password = form.get('password');
  $('links-error').textContent = '';
  try {
    if (form.get('max_bytes')) {
      json.max_bytes = parseSize(form.get('max_bytes'));
      if (!json.max_bytes) throw new Error('Largest file: a size such as 100 MiB.');
    }
    await getJson('/api/v1/upload-links', { method: 'POST', json });
    event.target.reset();
    await refreshLinks();
  } catch (error) {
    $('links-error').textContent = error.message;
  }
});
