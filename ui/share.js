// The Share dialog of one file: who has it (each removable), sharing it with
// another user by name, and making a download link (expiry, most downloads,
// password) whose address is shown to copy.

import { fileUrl, getJson, request } from './api.js';
import { el } from './format.js';

const $ = (id) => document.getElementById(id);

export function setUpShare() {
  const dialog = $('share-dialog');
  $('share-close').addEventListener('click', () => dialog.close());
  $('share-user-form').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      const username = $('share-username').value.trim();
      await request(fileUrl(dialog.dataset.name, `/shared-with/${encodeURIComponent(username)}`), { method: 'PUT' });
      $('share-username').value = '';
      await refreshRecipients();
    });
  });
  $('share-link-form').addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(async () => {
      const form = new FormData(event.target);
      const json = {};
      if (form.get('expires_in')) json.expires_in = form.get('expires_in');
      if (form.get('max_downloads')) json.max_downloads = Number(form.get('max_downloads'));
      if (form.get('password')) json.password = form.get('password');
      const link = await getJson(fileUrl(dialog.dataset.name, '/links'), { method: 'POST', json });
      $('share-link-value').value = link.url;
      $('share-link').hidden = false;
      $('share-link-value').select();
    });
  });
  $('share-link-copy').addEventListener('click', async () => {
    await navigator.clipboard?.writeText($('share-link-value').value).catch(() => {});
    $('share-link-value').select();
  });
}

export async function openShare(name) {
  const dialog = $('share-dialog');
  dialog.dataset.name = name;
  $('share-title').textContent = `Share ${name}`;
  $('share-error').textContent = '';
  $('share-link').hidden = true;
  $('share-link-form').reset();
  $('share-recipients').replaceChildren();
  if (!dialog.open) dialog.showModal();
  await guarded(refreshRecipients);
  $('share-username').focus();
}

async function guarded(work) {
  $('share-error').textContent = '';
  try {
    await work();
  } catch (error) {
    $('share-error').textContent = error.message;
  }
}

async function refreshRecipients() {
  const name = $('share-dialog').dataset.name;
  const recipients = await getJson(fileUrl(name, '/shared-with'));
  $('share-recipients').replaceChildren(
    ...(recipients.length
      ? recipients.map((recipient) => recipientRow(name, recipient.username))
      : [el('li', { class: 'muted', text: 'Only you have it.' })]),
  );
}

function recipientRow(name, username) {
  const remove = el('button', {
    type: 'button', class: 'secondary small', text: 'Stop sharing', 'aria-label': `Stop sharing with ${username}`,
  });
  remove.addEventListener('click', () => guarded(async () => {
    await request(fileUrl(name, `/shared-with/${encodeURIComponent(username)}`), { method: 'DELETE' });
    await refreshRecipients();
  }));
  return el('li', { 'data-username': username }, `${username} `, remove);
}
