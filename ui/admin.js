// The Admin page, for admins: every account with what it stores — its role
// changed, disabled or enabled, its quota set, its password reset, deleted
// with its files — and new accounts and invites.

import { getJson, request } from './api.js';
import { el, exactSize, humanDate, humanSize, parseSize, quotaText } from './format.js';

const $ = (id) => document.getElementById(id);
const ROLES = ['admin', 'user', 'reader'];

export async function showAdmin() {
  $('invite-link').hidden = true;
  $('admin-error').textContent = '';
  await refreshUsers();
}

async function refreshUsers() {
  const users = await getJson('/api/v1/admin/users');
  $('user-rows').replaceChildren(...users.map(userRow));
}

// Runs an admin action; its refusal (say, the last admin) is shown above the table.
async function act(action) {
  $('admin-error').textContent = '';
  try {
    await action();
  } catch (error) {
    $('admin-error').textContent = error.message;
  }
  await refreshUsers();
}

const change = (user, json) => request(`/api/v1/admin/users/${user.id}`, { method: 'PATCH', json });

function userRow(user) {
  const role = el('select', { 'aria-label': `Role of ${user.username}` },
    ...ROLES.map((name) => el('option', { value: name, text: name, selected: name === user.role })));
  role.addEventListener('change', () => act(() => change(user, { role: role.value })));
  const standing = el('button', {
    type: 'button', class: 'secondary small', text: user.disabled ? 'Enable' : 'Disable',
    'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.username}`,
  });
  standing.addEventListener('click', () => act(() => change(user, { disabled: !user.disabled })));
  const reset = el('button', {
    type: 'button', class: 'secondary small', text: 'Reset password…', 'aria-label': `Reset the password of ${user.username}`,
  });
  reset.addEventListener('click', () => ask(user, 'reset'));
  const remove = el('button', {
    type: 'button', class: 'danger small', text: 'Delete…', 'aria-label': `Delete ${user.username}`,
  });
  remove.addEventListener('click', () => ask(user, 'delete'));
  const quota = el('button', {
    type: 'button', class: 'secondary small', text: 'Quota…', 'aria-label': `Set the quota of ${user.username}`,
  });
  quota.addEventListener('click', () => ask(user, 'quota'));
  const used = user.quota.bytes || user.quota.files
    ? `${humanSize(user.bytes_used)} of ${quotaText(user.quota)}`
    : humanSize(user.bytes_used);
  return el(
    'tr',
    { 'data-name': user.username, class: user.disabled ? 'disabled' : null },
    el('td', { 'data-label': 'User', class: 'wrap', text: user.username }),
    el('td', { 'data-label': 'Role' }, role),
    el('td', { 'data-label': 'State', text: user.disabled ? 'disabled' : 'enabled' }),
    el('td', { 'data-label': 'Files', text: String(user.files) }),
    el('td', { 'data-label': 'Used', text: used }),
    el('td', { 'data-label': 'Last seen', text: user.last_seen_at ? humanDate(user.last_seen_at) : 'never' }),
    el('td', {}, el('div', { class: 'row' }, standing, quota, reset, remove)),
  );
}

// The dialog that confirms a deletion, takes a new password or sets a quota.
const ASKS = {
  delete: (user) => ({
    text: `Delete ${user.username} and their ${user.files} file(s)? This cannot be undone.`, yes: 'Delete', danger: true,
  }),
  reset: (user) => ({ text: `A new password for ${user.username}; their sign-ins end.`, yes: 'Set password' }),
  quota: (user) => ({
    text: `The storage quota of ${user.username}, who stores ${humanSize(user.bytes_used)} in ${user.files} file(s).`,
    yes: 'Set quota',
  }),
};
let asked = null;
function ask(user, what) {
  asked = { user, what };
  const { text, yes, danger } = ASKS[what](user);
  $('admin-dialog-text').textContent = text;
  $('admin-dialog-password-field').hidden = what !== 'reset';
  $('admin-dialog-password').required = what === 'reset';
  $('admin-dialog-quota-field').hidden = what !== 'quota';
  $('admin-dialog-quota-bytes').value = user.quota_bytes === null ? '' : exactSize(user.quota_bytes);
  $('admin-dialog-quota-files').value = user.quota_files === null ? '' : String(user.quota_files);
  $('admin-dialog-yes').textContent = yes;
  $('admin-dialog-yes').className = danger ? 'danger' : '';
  $('admin-dialog').showModal();
}

// A quota from the dialog's fields: blank gives the deployment's (null).
function quotaChange() {
  const bytesText = $('admin-dialog-quota-bytes').value.trim();
  const filesText = $('admin-dialog-quota-files').value.trim();
  const quotaBytes = bytesText === '' ? null : parseSize(bytesText);
  if (bytesText !== '' && quotaBytes === null) {
    throw new Error(`${bytesText} is not a size such as 10 GiB or 500 MB`);
  }
  return { quota_bytes: quotaBytes, quota_files: filesText === '' ? null : Number(filesText) };
}

$('admin-dialog-cancel').addEventListener('click', () => $('admin-dialog').close());

// Confirmed, by its button or by Enter in the password field.
$('admin-dialog-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!asked) return;
  const { user, what } = asked;
  const password = $('admin-dialog-password').value;
  let quota = null;
  if (what === 'quota') {
    try {
      quota = quotaChange();
    } catch (error) {
      $('admin-dialog-quota-bytes').setCustomValidity(error.message);
      $('admin-dialog-quota-bytes').reportValidity();
      return;
    }
  }
  $('admin-dialog').close();
  event.target.reset();
  const actions = {
    delete: () => request(`/api/v1/admin/users/${user.id}`, { method: 'DELETE' }),
    reset: () => change(user, { password }),
    quota: () => change(user, quota),
  };
  await act(actions[what]);
});

$('admin-dialog-quota-bytes').addEventListener('input', (event) => event.target.setCustomValidity(''));

$('user-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await act(async () => {
    await request('/api/v1/admin/users', {
      method: 'POST', json: { username: form.get('username'), password: form.get('password'), role: form.get('role') },
    });
    event.target.reset();
  });
});

$('invite-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $('admin-error').textContent = '';
  try {
    const invite = await getJson('/api/v1/admin/invites', {
      method: 'POST', json: { role: form.get('role'), expires_in: form.get('expires_in') },
    });
    $('invite-link-value').value = `${location.origin}/#invite=${invite.code}`;
    $('invite-link').hidden = false;
    $('invite-link-value').select();
  } catch (error) {
    $('admin-error').textContent = error.message;
  }
});
