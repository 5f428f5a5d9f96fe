// Folders in depot's web UI, in a real browser (Debian's Chromium through
// playwright-core): choose a folder and see its tree uploaded, go down with
// the folder rows and back up with the breadcrumbs, make a new folder and
// upload into it, move a file and a folder, delete a folder after its
// confirmation. Screenshots go to the given folder; any console error or
// uncaught exception fails the run.
//
// usage: node ui-folders.mjs BASE_URL SCREENSHOT_DIR

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
const errors = [];
page.on('console', (message) => { if (message.type() === 'error') errors.push(`console: ${message.text()}`); });
page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));

// A tree on disk, as a person's folder.
const local = mkdtempSync(join(tmpdir(), 'depot-ui-folders-'));
const tree = join(local, 'reports');
mkdirSync(join(tree, '2024'), { recursive: true });
writeFileSync(join(tree, '2024', 'q1.csv'), 'quarter,total\n1,10\n');
writeFileSync(join(tree, '2024', 'q2.csv'), 'quarter,total\n2,20\n');
writeFileSync(join(tree, 'summary.txt'), 'two quarters');

const rows = page.locator('#file-rows');
const row = (text) => rows.locator('tr', { hasText: text });
const crumbs = page.locator('#breadcrumbs');

async function answer(text) {
  const dialog = page.locator('#ask-name');
  await dialog.waitFor();
  await dialog.locator('input').fill(text);
  await dialog.getByRole('button', { name: 'OK' }).click();
}

try {
  await page.goto(base);
  const form = page.locator('#auth-form');
  await form.getByLabel('Username').fill('ann');
  await form.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await form.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Your files' }).waitFor();

  // A folder chosen: its three files go up, each under its path.
  await page.locator('#folder-input').setInputFiles(tree);
  await page.locator('#uploads li.done').nth(2).waitFor();
  const folderRow = row('reports/');
  await folderRow.waitFor();
  await folderRow.getByText('3 files').waitFor();

  // Down into it, then into 2024, and back up by the breadcrumbs.
  await folderRow.getByRole('button', { name: 'Open folder reports' }).click();
  await crumbs.getByText('reports').waitFor();
  await row('2024/').waitFor();
  await row('summary.txt').waitFor();
  await row('2024/').getByRole('button', { name: 'Open folder 2024' }).click();
  await row('q1.csv').waitFor();
  check(await rows.locator('tr').count() === 2, 'reports/2024 holds two files');
  await page.screenshot({ path: `${shots}/folders-inside.png`, fullPage: true });
  await crumbs.getByRole('button', { name: 'reports' }).click();
  await row('summary.txt').waitFor();

  // A new folder, empty until a file is uploaded into it.
  await page.getByRole('button', { name: 'New folder…' }).click();
  await answer('drafts');
  await page.getByText('This folder is empty').waitFor();
  await page.locator('#file-input').setInputFiles({ name: 'idea.txt', mimeType: 'text/plain', buffer: Buffer.from('an idea') });
  await row('idea.txt').waitFor();
  const stored = await page.evaluate(async () => {
    const token = sessionStorage.getItem('depot.token');
    return (await fetch('/api/v1/files/reports%2Fdrafts%2Fidea.txt', { headers: { Authorization: `Bearer ${token}` } })).status;
  });
  check(stored === 200, `the upload went into the folder shown (${stored})`);

  // Move the file up to the top, then move the folder reports/2024 elsewhere.
  await row('idea.txt').getByRole('button', { name: 'Move reports/drafts/idea.txt' }).click();
  await answer('idea.txt');
  await page.getByText('This folder is empty').waitFor();
  await crumbs.getByRole('button', { name: 'Your files' }).click();
  await row('idea.txt').waitFor();
  await row('reports/').getByRole('button', { name: 'Open folder reports' }).click();
  await row('2024/').getByRole('button', { name: 'Move folder 2024' }).click();
  await answer('archive/2024');
  await row('2024/').waitFor({ state: 'detached' });
  await row('summary.txt').waitFor();
  await crumbs.getByRole('button', { name: 'Your files' }).click();
  await row('archive/').getByText('2 files').waitFor();

  // Delete a folder: the confirmation says how much goes.
  await row('archive/').getByRole('button', { name: 'Delete folder archive' }).click();
  const confirm = page.locator('#confirm-delete');
  await confirm.getByText('2 files').waitFor();
  await page.screenshot({ path: `${shots}/folders-delete.png`, fullPage: true });
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await row('archive/').waitFor({ state: 'detached' });
  await row('reports/').getByText('1 file').waitFor();
  await page.screenshot({ path: `${shots}/folders-top.png`, fullPage: true });

  check(errors.length === 0, errors.join('\n'));
  console.log('folders: ok');
} finally {
  await browser.close();
  rmSync(local, { recursive: true, force: true });
}
