// The Admin page, for admins: every account with what it stores — its role
// changed, disabled or enabled, its password reset, deleted with its files —
// and new accounts and invites.

import { getJson, request } from './api.js';
import { el, humanDate, humanSize } from './format.js';

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
  return el(
    'tr',
    { 'data-name': user.username, class: user.disabled ? 'disabled' : null },
    el('td', { 'data-label': 'User', class: 'wrap', text: user.username }),
    el('td', { 'data-label': 'Role' }, role),
    el('td', { 'data-label': 'State', text: user.disabled ? 'disabled' : 'enabled' }),
    el('td', { 'data-label': 'Files', text: String(user.files) }),
    el('td', { 'data-label': 'Used', text: humanSize(user.bytes_used) }),
    el('td', { 'data-label': 'Last seen', text: user.last_seen_at ? humanDate(user.last_seen_at) : 'never' }),
    el('td', {}, el('div', { class: 'row' }, standing, reset, remove)),
  );
}

// The dialog that confirms a deletion or takes a new password.
let asked = null;
function ask(user, what) {
  asked = { user, what };
  const deleting = what === 'delete';
  $('admin-dialog-text').textContent = deleting
    ? `Delete ${user.username} and their ${user.files} file(s)? This cannot be undone.`
    : `A new password for ${user.username}; their sign-ins end.`;
  $('admin-dialog-password-field').hidden = deleting;
  $('admin-dialog-password').required = !deleting;
  $('admin-dialog-yes').textContent = deleting ? 'Delete' : 'Set password';
  $('admin-dialog-yes').className = deleting ? 'danger' : '';
  $('admin-dialog').showModal();
}

$('admin-dialog-cancel').addEventListener('click', () => $('admin-dialog').close());

// Confirmed, by its button or by Enter in the password field.
$('admin-dialog-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!asked) return;
  const { user, what } = asked;
  const password = $('admin-dialog-password').value;
  $('admin-dialog').close();
  event.target.reset();
  await act(() => (what === 'delete'
    ? request(`/api/v1/admin/users/${user.id}`, { method: 'DELETE' })
    : change(user, { password })));
});

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
