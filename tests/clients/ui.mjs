// depot's web UI in a real browser (Debian's Chromium through playwright-core):
// sign up, drop two files and watch them reach 100 %, see them listed, search,
// preview a CSV as a table, make a file active, see a duplicate refused by
// name, delete with confirmation, read the history, share a file with a
// colleague and through links — at desktop width, then again on a 375 px
// phone. Screenshots of each view go to the given folder.
// Any console error or uncaught exception fails the run.
//
// usage: node ui.mjs BASE_URL SCREENSHOT_DIR

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});

const CSV = 'date,product,sales\n2024-01-01,apple,3.5\n2024-01-02,"pear, green",4\n2024-01-03,plum,\n';
const NOTES = 'Notes for the quarter.\n<script>alert(1)</script>\n';
// A 2 × 1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAADklEQVR4nGP4z8AAQv8BD/kD/YURmXYAAAAASUVORK5CYII=';

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// A page whose console errors and page errors are collected; `expected`
// lists the network failures a step provokes on purpose, each allowed once.
async function openPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.errors = [];
  page.expected = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const index = page.expected.findIndex((failure) => text.includes(failure));
    if (index >= 0) page.expected.splice(index, 1);
    else page.errors.push(`console: ${text}`);
  });
  page.on('pageerror', (error) => page.errors.push(`page error: ${error.message}`));
  // A server error names its request, so a failure says which one it was.
  page.on('response', async (response) => {
    if (response.status() < 500) return;
    const body = await response.text().catch(() => '');
    page.errors.push(`${response.status()} from ${response.request().method()} ${response.url()}: ${body}`);
  });
  return page;
}

// Files dropped on the page as a person would drag them from their desktop.
async function dropFiles(page, files) {
  const transfer = await page.evaluateHandle((files) => {
    const transfer = new DataTransfer();
    for (const { name, type, text, base64 } of files) {
      const content = base64 ? Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)) : text;
      transfer.items.add(new File([content], name, { type }));
    }
    return transfer;
  }, files);
  await page.dispatchEvent('main', 'dragenter', { dataTransfer: transfer });
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
}

async function signIn(page, mode, username, url = base, password = 'correct horse battery') {
  await page.goto(url);
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill(username);
  await form.getByLabel('Password', { exact: true }).fill(password);
  await form.getByRole('button', { name: mode === 'register' ? 'Create account' : 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your files' }).waitFor();
}

// The link an admin made on the desktop, which the phone signs up with.
let inviteLink = null;

// A request from the page with `credential` as its bearer; the status.
const statusWith = (page, credential, path, method = 'GET') => page.evaluate(
  async ({ credential, path, method }) => (await fetch(path, {
    method, headers: { Authorization: `Bearer ${credential}` }, body: method === 'PUT' ? 'x' : undefined,
  })).status,
  { credential, path, method },
);

// API keys and user administration, as the deployment's first account (its admin).
async function team(page) {
  await page.getByRole('link', { name: 'Keys' }).click();
  await page.getByRole('heading', { name: 'API keys' }).waitFor();
  const keyForm = page.locator('#key-form');
  await keyForm.getByLabel('Name').fill('nightly-sync');
  await keyForm.getByLabel('Scope').selectOption('read');
  await keyForm.getByLabel('Expires').selectOption('90d');
  await keyForm.getByRole('button', { name: 'Create key' }).click();
  const secret = page.getByLabel(/Your new key/);
  await secret.waitFor();
  const key = await secret.inputValue();
  check(key.startsWith('depot_'), `the key is shown once: ${key}`);
  const accessKeyId = await page.getByLabel('Access key id').inputValue();
  const secretAccessKey = await page.getByLabel('Secret access key').inputValue();
  check(accessKeyId.startsWith('DPT') && secretAccessKey.length === 40, `its S3 credentials are shown: ${accessKeyId}`);
  const row = page.locator('#key-rows tr', { hasText: 'nightly-sync' });
  await row.waitFor();
  check((await row.textContent()).includes('read'), 'the key is listed with its scope');
  check(!(await page.locator('#key-rows').textContent()).includes(key.slice(6)), 'the list never shows the secret');
  check(await statusWith(page, key, '/api/v1/files/') === 200, 'the key reads');
  page.expected.push('status of 403');
  check(await statusWith(page, key, '/api/v1/files/x.txt/content', 'PUT') === 403, 'a read key cannot upload');
  await page.screenshot({ path: `${shots}/desktop-keys.png`, fullPage: true });
  await row.getByRole('button', { name: 'Revoke the key nightly-sync' }).click();
  await page.getByText('No keys yet.').waitFor();
  page.expected.push('status of 401');
  check(await statusWith(page, key, '/api/v1/files/') === 401, 'a revoked key is refused');

  await page.getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  const form = page.locator('#user-form');
  await form.getByLabel('Username').fill('reed');
  await form.getByLabel('Password').fill('reeds long password');
  await form.getByLabel('Role').selectOption('reader');
  await form.getByRole('button', { name: 'Add user' }).click();
  const reed = page.locator('#user-rows tr', { hasText: 'reed' });
  await reed.waitFor();
  check(await reed.getByLabel('Role of reed').inputValue() === 'reader', 'reed is a reader');
  await reed.getByRole('button', { name: 'Disable reed' }).click();
  await reed.getByText('disabled', { exact: true }).waitFor();
  await reed.getByRole('button', { name: 'Enable reed' }).click();
  await reed.getByText('enabled', { exact: true }).waitFor();
  // The last admin cannot step down; the refusal says why.
  page.expected.push('status of 409');
  await page.getByLabel('Role of ann').selectOption('user');
  await page.getByText('without an enabled admin').waitFor();
  // The list is read again after the refusal: the select shows the role kept.
  await page.waitForFunction(() => document.querySelector('[aria-label="Role of ann"]')?.value === 'admin');
  await reed.getByRole('button', { name: 'Reset the password of reed' }).click();
  await page.locator('#admin-dialog').getByLabel('New password').fill('reeds new password');
  const reset = page.waitForResponse((response) => response.request().method() === 'PATCH');
  await page.keyboard.press('Enter');
  check((await reset).status() === 200, 'Enter in the dialog sets the password');
  const signedIn = await page.evaluate(async () => (await fetch('/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'reed', password: 'reeds new password' }),
  })).status);
  check(signedIn === 200, 'reed signs in with the password the admin set');

  // A quota of reed's own, set in the dialog: a size it cannot read keeps it open.
  await reed.getByRole('button', { name: 'Set the quota of reed' }).click();
  const quotaDialog = page.locator('#admin-dialog');
  await quotaDialog.getByLabel('Storage').fill('lots');
  await quotaDialog.getByRole('button', { name: 'Set quota' }).click();
  check(await quotaDialog.evaluate((dialog) => dialog.open), 'a size it cannot read keeps the dialog open');
  await quotaDialog.getByLabel('Storage').fill('2 GiB');
  await quotaDialog.getByLabel('Files').fill('100');
  const quotaSet = page.waitForResponse((response) => response.request().method() === 'PATCH');
  await quotaDialog.getByRole('button', { name: 'Set quota' }).click();
  check((await quotaSet).status() === 200, 'the quota is set');
  await reed.getByText('0 B of 2.0 GiB in 100 files').waitFor();
  await reed.getByRole('button', { name: 'Set the quota of reed' }).click();
  check(await quotaDialog.getByLabel('Storage').inputValue() === '2 GiB', 'the dialog shows the quota as set');
  await quotaDialog.getByRole('button', { name: 'Cancel' }).click();

  // A reader's page offers nothing that writes, and shows the quota.
  const readerPage = await openPage({ width: 1280, height: 900 });
  await signIn(readerPage, 'login', 'reed', base, 'reeds new password');
  await readerPage.getByText('This account reads files only').waitFor();
  await readerPage.getByText('of a quota of 2.0 GiB in 100 files').waitFor();
  check(await readerPage.locator('#usage-meter').isVisible(), 'a meter shows the quota used');
  check(!(await readerPage.locator('#drop-zone').isVisible()), 'a reader sees no upload zone');
  await readerPage.getByRole('link', { name: 'Keys' }).click();
  await readerPage.getByRole('heading', { name: 'API keys' }).waitFor();
  check(!(await readerPage.locator('#key-form').isVisible()), 'a reader makes no keys');
  check(!readerPage.errors.length, `the reader's page: ${readerPage.errors.join('; ')}`);
  await readerPage.context().close();
  await reed.getByRole('button', { name: 'Delete reed' }).click();
  await page.locator('#admin-dialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForFunction(() => !document.querySelector('#user-rows tr[data-name="reed"]'));

  await page.locator('#invite-form').getByLabel('Role').selectOption('user');
  await page.getByRole('button', { name: 'Make invite link' }).click();
  await page.locator('#invite-link').waitFor();
  inviteLink = await page.getByLabel(/Send this link/).inputValue();
  check(inviteLink.includes('/#invite=depot-invite-'), `an invite link: ${inviteLink}`);
  await page.screenshot({ path: `${shots}/desktop-admin.png`, fullPage: true });
  // The page reads the list, the usage and the history: all answered, no
  // request is under way when the caller signs out next.
  const answered = Promise.all(['/api/v1/files/?', '/api/v1/usage', '/api/ingestion/history'].map(
    (path) => page.waitForResponse((response) => response.url().includes(path)),
  ));
  await page.getByRole('link', { name: 'Files' }).click();
  await page.getByRole('heading', { name: 'Your files' }).waitFor();
  await answered;
}

const fileRow = (page, name) => page.locator('#file-rows tr', { has: page.getByRole('button', { name, exact: true }) });

// The size the file list showed for ids.csv, which its history row must show too.
let idsSize;

const apiGet = (page, path) => page.evaluate(async (path) => {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem('depot.token')}` } });
  return response.text();
}, path);

// A taken name is a choice, not a dead end: keep both, replace, rename. Then
// several files selected and deleted at once, and finished uploads cleared.
async function duplicates(page) {
  const refusedUpload = async (name, text) => {
    page.expected.push('status of 409');
    await dropFiles(page, [{ name, type: 'text/csv', text }]);
    const refused = page.locator('#uploads li.failed', { hasText: name }).first();
    await refused.waitFor();
    const message = await refused.locator('.upload-status').textContent();
    check(message.includes(name) && message.includes('already exists'), `the refusal names the file: ${message}`);
    return refused;
  };
  const stored = (name) => page.locator('#uploads li.done', { hasText: name }).locator('.upload-status', { hasText: 'stored' }).waitFor();

  let refused = await refusedUpload('sales.csv', 'a,b\n1,2\n');
  await refused.getByRole('button', { name: 'Keep both, the new sales.csv under another name' }).click();
  await stored('sales (2).csv');
  await fileRow(page, 'sales (2).csv').waitFor();
  check(await apiGet(page, '/api/v1/files/sales%20(2).csv/content') === 'a,b\n1,2\n', 'kept under a free name');
  // Finished uploads go from the list on request.
  await page.getByRole('button', { name: 'Clear finished' }).click();
  check(await page.locator('#uploads li').count() === 0, 'the upload list is cleared');

  refused = await refusedUpload('sales (2).csv', 'a,b\n3,4\n');
  await refused.getByRole('button', { name: 'Replace sales (2).csv' }).click();
  await stored('sales (2).csv');
  check(await apiGet(page, '/api/v1/files/sales%20(2).csv/content') === 'a,b\n3,4\n', 'replaced');

  refused = await refusedUpload('sales.csv', 'a,b\n5,6\n');
  await refused.getByRole('button', { name: 'Upload sales.csv under another name' }).click();
  await refused.getByLabel('New name for sales.csv').fill('sales-2024.csv');
  await refused.getByRole('button', { name: 'Upload', exact: true }).click();
  await stored('sales-2024.csv');
  check(await apiGet(page, '/api/v1/files/sales.csv/content') === CSV, 'the original sales.csv is untouched');

  // Past 128 distinct values a count is an estimate, and says so; means are rounded.
  const ids = `id,value\n${Array.from({ length: 5000 }, (_, i) => `${i},${i / 7}`).join('\n')}\n`;
  await dropFiles(page, [{ name: 'ids.csv', type: 'text/csv', text: ids }]);
  await stored('ids.csv');
  await page.getByRole('button', { name: 'ids.csv', exact: true }).click();
  const idDetails = page.getByRole('dialog', { name: 'ids.csv' });
  await idDetails.getByText('Dataset: 5,000 rows, 2 columns').waitFor();
  const idRow = await idDetails.locator('#details-profile tbody tr').nth(1).locator('td').allTextContents();
  check(idRow[3].startsWith('≈ '), `an estimated distinct count is marked: ${idRow}`);
  check(idRow[6] === '357.071', `the mean is rounded to six digits: ${idRow[6]}`);
  await idDetails.getByRole('button', { name: 'Close' }).click();
  idsSize = await fileRow(page, 'ids.csv').locator('td[data-label="Size"]').textContent();

  // Each row has its own Download.
  const [saved] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download sales-2024.csv' }).click(),
  ]);
  check(readFileSync(await saved.path(), 'utf8') === 'a,b\n5,6\n', 'a row downloads its file');

  // Three at once: selected, then deleted after one confirmation.
  for (const name of ['sales (2).csv', 'sales-2024.csv', 'ids.csv']) {
    await page.getByRole('checkbox', { name: `Select ${name}` }).check();
  }
  await page.locator('#selection-count', { hasText: '3 selected' }).waitFor();
  await page.locator('#selection').getByRole('button', { name: 'Delete…' }).click();
  await page.locator('#confirm-delete').getByText('Delete 3 files?').waitFor();
  await page.locator('#confirm-delete').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 3);
  check(await page.locator('#selection').isHidden(), 'nothing is selected any more');
}

async function desktop(page) {
  await page.goto(base);
  await page.getByRole('heading', { name: 'Sign in to depot' }).waitFor();
  await page.screenshot({ path: `${shots}/desktop-sign-in.png` });
  await signIn(page, 'register', 'ann');

  // Two files dropped at once, each with its own progress reaching 100 %.
  await dropFiles(page, [
    { name: 'sales.csv', type: 'text/csv', text: CSV },
    { name: 'notes.txt', type: 'text/plain', text: NOTES },
  ]);
  for (const name of ['sales.csv', 'notes.txt']) {
    const item = page.locator('#uploads li', { hasText: name });
    await item.locator('.upload-status', { hasText: 'stored' }).waitFor();
    check((await item.locator('.upload-status').textContent()).includes('100 %'), `${name} shows 100 %`);
    check(await item.locator('progress').evaluate((bar) => bar.value === 100), `${name}'s bar is full`);
  }
  await fileRow(page, 'sales.csv').waitFor();
  await fileRow(page, 'notes.txt').waitFor();
  check((await page.locator('#file-rows tr').count()) === 2, 'both files are listed');
  // The upload that finished last is the session's active file.
  await page.locator('#file-rows tr.active').waitFor();
  await page.screenshot({ path: `${shots}/desktop-files.png`, fullPage: true });

  // Search narrows the list.
  await page.getByRole('searchbox', { name: 'Search' }).fill('sales');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 1);
  check(await fileRow(page, 'sales.csv').isVisible(), 'the search keeps sales.csv');
  await page.getByRole('searchbox', { name: 'Search' }).fill('');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 2);
  // The type filter too.
  await page.getByLabel('Type', { exact: true }).selectOption('text/*');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 2);
  await page.getByLabel('Type', { exact: true }).selectOption('text/csv');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 1);
  await page.getByLabel('Type', { exact: true }).selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 2);

  // Sorting, and the date filter (nothing was created before today).
  await page.getByLabel('Sort', { exact: true }).selectOption('name');
  await page.waitForFunction(() => document.querySelector('#file-rows tr')?.dataset.name === 'notes.txt');
  await page.getByLabel('Sort', { exact: true }).selectOption('-name');
  await page.waitForFunction(() => document.querySelector('#file-rows tr')?.dataset.name === 'sales.csv');
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel('To', { exact: true }).fill(yesterday);
  await page.getByText('No files match.').waitFor();
  await page.getByLabel('To', { exact: true }).fill('');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 2);

  // The CSV's details: metadata, the dataset summary and a table preview,
  // opened from the keyboard.
  await page.getByRole('button', { name: 'sales.csv', exact: true }).focus();
  await page.keyboard.press('Enter');
  const details = page.getByRole('dialog', { name: 'sales.csv' });
  await details.locator('#details-preview table').waitFor();
  const header = await details.locator('#details-preview th').allTextContents();
  check(header.join('|') === 'date|product|sales', `preview header: ${header}`);
  const cells = await details.locator('#details-preview tbody tr').nth(1).locator('td').allTextContents();
  check(cells.join('|') === '2024-01-02|pear, green|4', `preview row: ${cells}`);
  await details.getByText('Dataset: 3 rows, 3 columns').waitFor();
  check(await details.getByText('float64').isVisible(), 'the summary shows dtypes');
  await page.screenshot({ path: `${shots}/desktop-preview.png` });

  // Download saves the file's bytes under its name.
  const [saved] = await Promise.all([
    page.waitForEvent('download'),
    details.getByRole('button', { name: 'Download' }).click(),
  ]);
  check(saved.suggestedFilename() === 'sales.csv', `download named ${saved.suggestedFilename()}`);
  const path = await saved.path();
  check(readFileSync(path, 'utf8') === CSV, 'the download is the file');

  // Make it the current dataset (the session's active file) from the dialog.
  await details.getByRole('button', { name: 'Use as current dataset' }).click();
  await fileRow(page, 'sales.csv').and(page.locator('.active')).waitFor();
  await page.locator('#active-file', { hasText: 'Current dataset: sales.csv' }).waitFor();

  // Uploaded HTML-ish text is shown as text, never run.
  await page.getByRole('button', { name: 'notes.txt', exact: true }).click();
  const notes = page.getByRole('dialog', { name: 'notes.txt' });
  await notes.locator('pre', { hasText: '<script>alert(1)</script>' }).waitFor();
  const shown = await notes.locator('#details-preview').textContent();
  check(shown.trimEnd().endsWith('<script>alert(1)</script>'), `the preview is the text alone: ${JSON.stringify(shown)}`);
  await notes.getByRole('button', { name: 'Close' }).click();

  // An image previews inline (fetched with the token, shown from a blob: URL).
  await dropFiles(page, [{ name: 'dot.png', type: 'image/png', base64: PNG }]);
  await page.locator('#uploads li', { hasText: 'dot.png' }).locator('.upload-status', { hasText: 'stored' }).waitFor();
  await page.getByRole('button', { name: 'dot.png', exact: true }).click();
  const image = page.getByRole('dialog', { name: 'dot.png' }).getByRole('img', { name: 'Preview of dot.png' });
  await image.waitFor();
  await page.waitForFunction(() => document.querySelector('#details-preview img')?.naturalWidth === 2);
  await page.getByRole('dialog', { name: 'dot.png' }).getByRole('button', { name: 'Close' }).click();

  await duplicates(page);

  // Delete, with confirmation.
  await page.getByRole('button', { name: 'notes.txt', exact: true }).click();
  await page.getByRole('dialog', { name: 'notes.txt' }).getByRole('button', { name: 'Delete…' }).click();
  const confirm = page.locator('#confirm-delete');
  await confirm.getByText('Delete notes.txt?').waitFor();
  await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 2);
  check(!(await fileRow(page, 'notes.txt').count()), 'notes.txt is gone');

  // The history of all the account's uploads: seven stored, three refused with their reason.
  const history = page.locator('#history-rows tr');
  await page.waitForFunction(() => document.querySelectorAll('#history-rows tr').length === 10);
  check((await history.filter({ hasText: 'completed' }).count()) === 7, 'seven completed uploads');
  check((await history.filter({ hasText: 'failed' }).filter({ hasText: 'already exists' }).count()) === 3,
    'the refused uploads and why');
  const idsHistory = await history.filter({ hasText: 'ids.csv' }).locator('td[data-label="Size"]').textContent();
  check(idsHistory === idsSize, `a size reads the same in both tables: ${idsHistory} and ${idsSize}`);
  await page.locator('#history-rows').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/desktop-history.png`, fullPage: true });

  await largeFiles(page);
  await sharing(page);
  await team(page);

  // Signing out ends the token on the server, not only in the tab.
  const token = await page.evaluate(() => sessionStorage.getItem('depot.token'));
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to depot' }).waitFor();
  check(!(await page.getByRole('button', { name: 'Sign out' }).isVisible()), 'no Sign out on the sign-in page');
  page.expected.push('status of 401');
  check(await statusWith(page, token, '/api/v1/files/') === 401, 'the signed-out token is refused');
}

// Sharing: with a colleague who has an account, through a link with a
// password for someone who has none (who opens its page, gives the password
// and downloads), and an upload link a stranger sends a file through.
async function sharing(page) {
  const created = await page.evaluate(async () => (await fetch('/api/v1/admin/users', {
    method: 'POST',
    headers: { Authorization: `Bearer ${sessionStorage.getItem('depot.token')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'cleo', password: 'cleos long password', role: 'user' }),
  })).status);
  check(created === 201, `ann adds cleo: ${created}`);

  await page.getByRole('button', { name: 'sales.csv', exact: true }).click();
  const details = page.getByRole('dialog', { name: 'sales.csv' });
  await details.getByRole('button', { name: 'Share…' }).click();
  const share = page.getByRole('dialog', { name: 'Share sales.csv' });
  await share.getByText('Only you have it.').waitFor();
  await share.getByLabel('Username').fill('cleo');
  await share.getByRole('button', { name: 'Share', exact: true }).click();
  await share.getByRole('button', { name: 'Stop sharing with cleo' }).waitFor();
  await share.getByLabel('Most downloads').fill('2');
  await share.getByLabel('Password (optional)').fill('open sesame');
  await share.getByRole('button', { name: 'Make link' }).click();
  const address = share.getByLabel('Send this address:');
  await address.waitFor();
  const url = await address.inputValue();
  check(url.startsWith(`${base}/s/`), `the link's address: ${url}`);
  await page.screenshot({ path: `${shots}/desktop-share.png` });
  await share.getByRole('button', { name: 'Close' }).click();
  await details.getByRole('button', { name: 'Close' }).click();

  // Someone without an account: the password first (a wrong one is refused), then the file.
  const stranger = await openPage({ width: 1280, height: 900 });
  stranger.expected.push('status of 401', 'status of 401');
  await stranger.goto(url);
  await stranger.getByRole('heading', { name: 'This link is protected' }).waitFor();
  await stranger.getByLabel('Password').fill('not the password');
  await stranger.getByRole('button', { name: 'Open' }).click();
  await stranger.getByText('Wrong password.').waitFor();
  await stranger.getByLabel('Password').fill('open sesame');
  await stranger.getByRole('button', { name: 'Open' }).click();
  await stranger.getByRole('heading', { name: 'sales.csv' }).waitFor();
  await stranger.getByText('2 of 2 downloads left.').waitFor();
  check((await stranger.locator('#link-summary').textContent()).includes('sales'), 'the dataset summary');
  await stranger.screenshot({ path: `${shots}/desktop-link-page.png`, fullPage: true });
  const [fetched] = await Promise.all([
    stranger.waitForEvent('download'),
    stranger.getByRole('button', { name: 'Download' }).click(),
  ]);
  check(fetched.suggestedFilename() === 'sales.csv', `saved as ${fetched.suggestedFilename()}`);
  check(readFileSync(await fetched.path(), 'utf8') === CSV, 'the stranger has the file');
  check(!stranger.errors.length, `the link page: ${stranger.errors.join('; ')}`);
  await stranger.context().close();

  // cleo finds it under "Shared with me" and downloads it.
  const cleo = await openPage({ width: 1280, height: 900 });
  await signIn(cleo, 'login', 'cleo', base, 'cleos long password');
  await cleo.getByRole('link', { name: 'Sharing' }).click();
  const shared = cleo.locator('#shared-rows tr', { hasText: 'sales.csv' });
  await shared.getByText('ann', { exact: true }).waitFor();
  const [copy] = await Promise.all([
    cleo.waitForEvent('download'),
    shared.getByRole('button', { name: 'Download sales.csv from ann' }).click(),
  ]);
  check(readFileSync(await copy.path(), 'utf8') === CSV, 'cleo has the file');
  check(!cleo.errors.length, `cleo's page: ${cleo.errors.join('; ')}`);
  await cleo.context().close();

  // ann's links count the download; an upload link takes a stranger's file.
  await page.getByRole('link', { name: 'Sharing' }).click();
  await page.locator('#link-rows tr', { hasText: 'sales.csv' }).getByText('1 of 2 downloads').waitFor();
  const form = page.locator('#upload-link-form');
  await form.getByLabel('Most files').fill('2');
  await form.getByRole('button', { name: 'Make upload link' }).click();
  const uploads = page.locator('#link-rows tr', { hasText: 'Uploads to you' });
  await uploads.waitFor();
  const uploadUrl = await uploads.locator('a').getAttribute('href');
  await page.screenshot({ path: `${shots}/desktop-sharing.png`, fullPage: true });
  // A small file and one large enough to go up resumably, through the link.
  const folder = mkdtempSync(join(tmpdir(), 'depot-ui-'));
  const small = join(folder, 'from-a-stranger.csv');
  const large = join(folder, 'big-from-a-stranger.bin');
  writeFileSync(small, CSV);
  writeFileSync(large, Buffer.alloc(65 * 1024 * 1024, 7));
  const sender = await openPage({ width: 375, height: 812 });
  await sender.goto(uploadUrl);
  await sender.getByRole('heading', { name: 'Send files' }).waitFor();
  await sender.getByText('2 of 2 files left').waitFor();
  await sender.getByLabel('Choose files').setInputFiles([small, large]);
  // Its last file: the page's next look at the link is refused (410).
  sender.expected.push('status of 410');
  await sender.getByRole('button', { name: 'Upload' }).click();
  await sender.getByText('from-a-stranger.csv: sent').waitFor();
  await sender.getByText('big-from-a-stranger.bin: sent').waitFor({ timeout: 120_000 });
  await sender.getByText('This link takes no more files.').waitFor();
  check(!sender.errors.length, `the upload page: ${sender.errors.join('; ')}`);
  await sender.context().close();
  rmSync(folder, { recursive: true });
  await page.getByRole('link', { name: 'Files' }).click();
  await page.locator('#file-rows tr[data-name^="big-from-a-stranger ["]').waitFor();
  await page.locator('#file-rows tr[data-name^="from-a-stranger ["]').waitFor();
}

// Files of 64 MiB and more go up in resumable chunks: one whose first chunk's
// connection fails still arrives whole, and one cancelled midway leaves nothing.
async function largeFiles(page) {
  const makeFile = (name, seed) => page.evaluateHandle(async ({ name, seed }) => {
    // A fixed modification time: the same file after a reload, as from a disk.
    const lastModified = 1_700_000_000_000 + seed;
    const bytes = new Uint8Array(70 * 1024 * 1024);
    let state = seed;
    for (let i = 0; i < bytes.length; i += 4) {
      state = (state * 1103515245 + 12345) >>> 0;
      bytes[i] = state >>> 24;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    window.expectedSha256 = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: 'application/octet-stream', lastModified }));
    return transfer;
  }, { name, seed });

  let failedOnce = false;
  page.expected.push('net::ERR_CONNECTION_RESET');
  await page.route('**/api/v1/uploads/*', (route) => {
    if (route.request().method() === 'PATCH' && !failedOnce) {
      failedOnce = true;
      return route.abort('connectionreset');
    }
    return route.continue();
  });
  const big = await makeFile('big.bin', 7);
  await page.dispatchEvent('main', 'drop', { dataTransfer: big });
  const item = page.locator('#uploads li', { hasText: 'big.bin' });
  await item.locator('.upload-status', { hasText: 'stored' }).waitFor({ timeout: 60_000 });
  check(failedOnce, 'the first chunk was cut');
  await page.unrouteAll();
  const stored = await page.evaluate(async () => {
    const token = sessionStorage.getItem('depot.token');
    const response = await fetch('/api/v1/files/big.bin', { headers: { Authorization: `Bearer ${token}` } });
    return (await response.json()).sha256;
  });
  check(stored === await page.evaluate(() => window.expectedSha256), 'big.bin is stored byte for byte');

  // Cancelled while the server is still writing a chunk of it (a writer of
  // the test's own holds the upload's lock there): the DELETE gets 423 and is
  // asked again until the server lets go, and only then does the upload show
  // as cancelled.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  let patches = 0;
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      await held;
      return route.abort('connectionreset').catch(() => {});
    }
    return route.continue().catch(() => {});
  });
  const cancelled = await makeFile('cancelled.bin', 9);
  await page.dispatchEvent('main', 'drop', { dataTransfer: cancelled });
  const cancelItem = page.locator('#uploads li', { hasText: 'cancelled.bin' });
  await cancelItem.locator('.upload-status', { hasText: '%' }).waitFor();
  while (patches < 2) await page.waitForTimeout(50);
  const [uploadUrl, token] = await page.evaluate(() => [
    Object.entries(localStorage).find(([key]) => key.startsWith('depot.upload:') && key.includes('cancelled.bin'))[1],
    sessionStorage.getItem('depot.token'),
  ]);
  const tus = { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' };
  const offset = (await fetch(`${base}${uploadUrl}`, { method: 'HEAD', headers: tus })).headers.get('Upload-Offset');
  let finishWriting;
  const writing = new Promise((resolve) => { finishWriting = resolve; });
  const slowBody = new ReadableStream({
    async start(controller) {
      controller.enqueue(new Uint8Array(1024));
      await writing;
      controller.close();
    },
  });
  const writer = fetch(`${base}${uploadUrl}`, {
    method: 'PATCH',
    headers: { ...tus, 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream' },
    body: slowBody,
    duplex: 'half',
  });
  await page.waitForTimeout(500);
  page.expected.push('status of 423', 'status of 423', 'status of 423', 'status of 423');
  await cancelItem.getByRole('button', { name: 'Cancel the upload of cancelled.bin' }).click();
  release();
  await cancelItem.locator('.upload-status', { hasText: 'Cancelling…' }).waitFor();
  await page.waitForTimeout(1500);
  check(await cancelItem.locator('.upload-status', { hasText: 'Cancelling…' }).isVisible(),
    'not shown as cancelled while the server still holds the upload');
  finishWriting();
  check((await writer).status === 204, 'the other writer finished');
  await cancelItem.locator('.upload-status', { hasText: 'Cancelled' }).waitFor({ timeout: 30_000 });
  check((await fetch(`${base}${uploadUrl}`, { method: 'HEAD', headers: tus })).status === 404,
    'the server let go of the cancelled upload');
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  check(!(await fileRow(page, 'cancelled.bin').count()), 'a cancelled upload is not listed');
  const open = await page.evaluate(async () => {
    const token = sessionStorage.getItem('depot.token');
    const response = await fetch('/api/v1/files/?name=cancelled', { headers: { Authorization: `Bearer ${token}` } });
    return (await response.json()).length;
  });
  check(open === 0, 'no file was stored for the cancelled upload');
  await page.locator('#history-rows tr', { hasText: 'cancelled.bin' }).filter({ hasText: 'failed' }).waitFor();

  // A reload in the middle of an upload: the same file dropped again goes on
  // from the server's offset instead of starting over.
  let sent = 0;
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++sent === 3) {
      return; // held until the page goes away
    }
    return route.continue().catch(() => {});
  });
  await page.dispatchEvent('main', 'drop', { dataTransfer: await makeFile('reload.bin', 11) });
  while (sent < 3) await page.waitForTimeout(50);
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await page.reload();
  await page.getByRole('heading', { name: 'Your files' }).waitFor();
  const after = { created: 0, patches: 0 };
  page.on('request', (request) => {
    if (!request.url().includes('/api/v1/uploads/')) return;
    if (request.method() === 'POST') after.created += 1;
    if (request.method() === 'PATCH') after.patches += 1;
  });
  await page.dispatchEvent('main', 'drop', { dataTransfer: await makeFile('reload.bin', 11) });
  const reloaded = page.locator('#uploads li', { hasText: 'reload.bin' });
  await reloaded.locator('.upload-status', { hasText: 'stored' }).waitFor({ timeout: 60_000 });
  check(after.created === 0, 'the upload was found again, not created anew');
  check(after.patches <= 7, `only the rest was sent (${after.patches} chunks of 9)`);
  const reloadedSha = await page.evaluate(async () => {
    const token = sessionStorage.getItem('depot.token');
    const response = await fetch('/api/v1/files/reload.bin', { headers: { Authorization: `Bearer ${token}` } });
    return (await response.json()).sha256;
  });
  check(reloadedSha === await page.evaluate(() => window.expectedSha256), 'reload.bin is stored byte for byte');
  check(await page.evaluate(() => !Object.keys(localStorage).some((key) => key.startsWith('depot.upload:'))),
    'nothing is left to resume');
}

async function phone(page) {
  // Signed up through the invite link the admin made on the desktop.
  check(inviteLink, 'the desktop run made an invite link');
  await page.goto(inviteLink);
  await page.getByRole('heading', { name: 'Create your depot account' }).waitFor();
  check(await page.getByLabel('Invite code').inputValue() !== '', 'the invite code is filled in');
  await page.screenshot({ path: `${shots}/phone-sign-in.png` });
  await signIn(page, 'register', 'bob', inviteLink);

  // On a phone files are picked, not dropped.
  await page.getByLabel('Choose files…').setInputFiles([
    { name: 'phone.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) },
    { name: 'memo.txt', mimeType: 'text/plain', buffer: Buffer.from(NOTES) },
  ]);
  for (const name of ['phone.csv', 'memo.txt']) {
    await page.locator('#uploads li', { hasText: name }).locator('.upload-status', { hasText: '100 %' }).waitFor();
  }
  await fileRow(page, 'memo.txt').waitFor();
  await fileRow(page, 'phone.csv').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing is wider than the phone (${overflow}px over)`);
  await page.screenshot({ path: `${shots}/phone-files.png`, fullPage: true });

  await page.getByRole('searchbox', { name: 'Search' }).fill('phone');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 1);

  await page.getByRole('button', { name: 'phone.csv', exact: true }).click();
  const details = page.getByRole('dialog', { name: 'phone.csv' });
  await details.locator('#details-preview table').waitFor();
  await details.getByRole('button', { name: 'Use as current dataset' }).click();
  await page.locator('#active-file', { hasText: 'Current dataset: phone.csv' }).waitFor();
  // The toast it shows keeps clear of the search box.
  await page.locator('#toast.shown').waitFor();
  const [toastBox, searchBox] = await Promise.all(['#toast', '#filter-name'].map((id) => page.locator(id).boundingBox()));
  check(toastBox.y + toastBox.height <= searchBox.y || searchBox.y + searchBox.height <= toastBox.y,
    `the toast does not cover the search box: ${JSON.stringify({ toastBox, searchBox })}`);
  await page.getByRole('button', { name: 'phone.csv', exact: true }).click();
  await details.locator('#details-preview table').waitFor();
  await page.screenshot({ path: `${shots}/phone-preview.png` });
  await details.getByRole('button', { name: 'Delete…' }).click();
  await page.locator('#confirm-delete').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 0);

  await page.getByRole('searchbox', { name: 'Search' }).fill('');
  await page.waitForFunction(() => document.querySelectorAll('#file-rows tr').length === 1);
  await page.waitForFunction(() => document.querySelectorAll('#history-rows tr').length === 2);
  await page.screenshot({ path: `${shots}/phone-history.png`, fullPage: true });
}

let failed = false;
const runs = [['desktop', desktop, { width: 1280, height: 900 }], ['phone', phone, { width: 375, height: 812 }]];
for (const [name, run, viewport] of runs) {
  const page = await openPage(viewport);
  try {
    await run(page);
    if (page.errors.length) throw new Error(page.errors.join('\n'));
    console.log(`${name}: ok`);
  } catch (error) {
    failed = true;
    console.error(`${name}: ${error.stack || error}`);
    if (page.errors.length) console.error(`${name}, console and page errors:\n${page.errors.join('\n')}`);
    await page.screenshot({ path: `${shots}/${name}-failure.png`, fullPage: true }).catch(() => {});
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
