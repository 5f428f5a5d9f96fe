// The page of a link, for someone without an account: /s/{token} downloads
// one file, /u/{token} takes uploads (large ones resumably). It asks the link what it opens
// (…/info), asks for a password when the link has one, then offers the
// download (a form POST, so the browser saves the file) or the upload.

import { errorOf } from './api.js';
import { humanSize, humanDate, el } from './format.js';
import { linkSpace, upload } from './upload.js';

const [, kind, token] = location.pathname.split('/');
const base = `/${kind}/${token}`;
let password = '';

const $ = (id) => document.getElementById(id);

function fail(message) {
  $('link-loading').hidden = true;
  $('link-error').textContent = message;
}

function passwordHeaders() {
  return password ? { 'X-Link-Password': password } : {};
}

// What an error answer means for a person.
async function problem(response) {
  const error = await errorOf(response);
  if (error.status === 410) return 'This link has expired, been used up or been revoked.';
  if (error.code === 'not_found') return 'There is no such link: check that you have all of it.';
  if (error.status === 429) {
    return `Too many tries; try again in ${response.headers.get('Retry-After') || 'a few'} seconds.`;
  }
  if (error.code === 'link_password_wrong') return 'Wrong password.';
  return error.message;
}

async function open() {
  const response = await fetch(`${base}/info`, { headers: passwordHeaders() });
  $('link-loading').hidden = true;
  if (response.status === 401) {
    const message = password ? await problem(response) : '';
    $('link-password-form').hidden = false;
    $('link-error').textContent = message;
    $('link-password').focus();
    return;
  }
  if (!response.ok) return fail(await problem(response));
  $('link-password-form').hidden = true;
  $('link-error').textContent = '';
  const info = await response.json();
  if (info.kind === 'download') showDownload(info);
  else showUpload(info);
}

function expiry(info) {
  return info.expires_at ? `Works until ${humanDate(info.expires_at)}.` : '';
}

function showDownload(info) {
  document.title = `${info.file_name} — depot`;
  $('link-file-name').textContent = info.file_name;
  $('link-file-facts').textContent = `${humanSize(info.size)} · ${info.content_type}`;
  if (info.summary) {
    $('link-summary').textContent = info.summary;
    $('link-summary').hidden = false;
  }
  $('link-download-form').action = base;
  $('link-download-password').value = password;
  const left = info.max_downloads == null ? '' : `${info.max_downloads - info.downloads} of ${info.max_downloads} downloads left. `;
  $('link-download-limits').textContent = left + expiry(info);
  $('link-download').hidden = false;
}

function uploadLimits(info) {
  const parts = [];
  if (info.max_files != null) parts.push(`${info.max_files - info.files} of ${info.max_files} files left`);
  if (info.max_bytes != null) parts.push(`at most ${humanSize(info.max_bytes)} a file`);
  return (parts.length ? parts.join(', ') + '. ' : '') + expiry(info);
}

function showUpload(info) {
  $('link-upload-limits').textContent = uploadLimits(info);
  $('link-upload').hidden = false;
}

// One file through the link, with its progress in `row`: large ones go up
// resumably (tus, with the link as the credential), the rest in one request.
async function send(file, row) {
  const progress = (sent, total) => {
    row.textContent = `${file.name}: ${total ? Math.floor((100 * sent) / total) : 100} %`;
  };
  try {
    await upload(file, { progress, space: linkSpace(base, password) }).done;
    row.textContent = `${file.name}: sent`;
    row.className = 'ok';
  } catch (error) {
    row.textContent = `${file.name}: ${error.status === 410 ? 'this link takes no more files' : error.message}`;
    row.className = 'error';
  }
}

$('link-password-form').addEventListener('submit', (event) => {
  event.preventDefault();
  password = $('link-password').value;
  open();
});

$('link-upload-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const files = [...$('link-upload-files').files];
  for (const file of files) {
    const row = el('li', { text: `${file.name}: waiting` });
    $('link-upload-results').append(row);
    await send(file, row);
  }
  $('link-upload-files').value = '';
  const response = await fetch(`${base}/info`, { headers: passwordHeaders() });
  if (response.ok) {
    $('link-upload-limits').textContent = uploadLimits(await response.json());
  } else {
    $('link-upload-form').hidden = true;
    $('link-upload-limits').textContent = response.status === 410
      ? 'This link takes no more files.'
      : await problem(response);
  }
});

open().catch((err) => fail(`The link could not be opened: ${err.message}`));
