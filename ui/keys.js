// The Keys page: the signed-in user's API keys for scripts — made with a
// scope and an expiry (the secret, and its S3 credentials, shown once),
// listed, and revoked.

import { getJson, request } from './api.js';
import { el, humanDate } from './format.js';

const $ = (id) => document.getElementById(id);

export async function showKeys() {
  $('key-secret').hidden = true;
  await refreshKeys();
}

async function refreshKeys() {
  const keys = await getJson('/api/v1/keys');
  $('key-rows').replaceChildren(...keys.map(keyRow));
  $('keys-empty').hidden = keys.length > 0;
}

function keyRow(key) {
  const revoke = el('button', {
    type: 'button', class: 'danger small', text: 'Revoke', 'aria-label': `Revoke the key ${key.name}`,
  });
  revoke.addEventListener('click', async () => {
    await request(`/api/v1/keys/${key.id}`, { method: 'DELETE' });
    await refreshKeys();
  });
  return el(
    'tr',
    { 'data-name': key.name },
    el('td', { 'data-label': 'Name', class: 'wrap', text: key.name }),
    el('td', { 'data-label': 'Scope', text: key.scope }),
    el('td', { 'data-label': 'Created', text: humanDate(key.created_at) }),
    el('td', { 'data-label': 'Last used', text: key.last_used_at ? humanDate(key.last_used_at) : 'never' }),
    el('td', { 'data-label': 'Expires', text: key.expires_at ? humanDate(key.expires_at) : 'never' }),
    el('td', {}, revoke),
  );
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const json = { name: form.get('name'), scope: form.get('scope') };
  if (form.get('expires_in')) json.expires_in = form.get('expires_in');
  $('key-error').textContent = '';
  try {
    const created = await getJson('/api/v1/keys', { method: 'POST', json });
    $('key-secret-value').value = created.key;
    $('key-access-key-id').value = created.access_key_id;
    $('key-secret-access-key').value = created.secret_access_key;
    $('key-secret').hidden = false;
    event.target.reset();
    await refreshKeys();
    $('key-secret-value').select();
  } catch (error) {
    $('key-error').textContent = error.message;
  }
});

$('key-secret-copy').addEventListener('click', async () => {
  await navigator.clipboard?.writeText($('key-secret-value').value).catch(() => {});
  $('key-secret-value').select();
});
