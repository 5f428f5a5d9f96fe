// The details dialog: a file's metadata, its dataset summary as a table, a
// preview (a CSV/TSV's first rows, a text file's start, an image inline;
// HTML and SVG only ever as text), and download, share, use as the current
// dataset, delete.

import { download, fileUrl, getJson, request } from './api.js';
import { el, humanDate, humanSize, textTable } from './format.js';
import { openShare } from './share.js';

const $ = (id) => document.getElementById(id);

// Object URLs of previewed images, released when the dialog closes.
let imageUrls = [];

// `actions`: { activate(name), remove(name) → whether it went } — the page's.
export function setUpDetails(actions) {
  const dialog = $('details');
  $('details-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    imageUrls.forEach((url) => URL.revokeObjectURL(url));
    imageUrls = [];
  });
  $('details-download').addEventListener('click', () => guarded(() => download(dialog.dataset.name)));
  $('details-activate').addEventListener('click', () => guarded(async () => {
    await actions.activate(dialog.dataset.name);
    dialog.close();
  }));
  $('details-delete').addEventListener('click', () => guarded(async () => {
    if (await actions.remove(dialog.dataset.name)) dialog.close();
  }));
  $('details-share').addEventListener('click', () => openShare(dialog.dataset.name));
}

export async function showDetails(name) {
  const dialog = $('details');
  dialog.dataset.name = name;
  $('details-title').textContent = name;
  $('details-meta').replaceChildren();
  $('details-profile').replaceChildren();
  $('details-preview').replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
  $('details-error').textContent = '';
  if (!dialog.open) dialog.showModal();
  await guarded(async () => {
    const file = await getJson(fileUrl(name));
    showMeta(file);
    showProfile(file.profile);
    showPreview(await getJson(fileUrl(name, '/preview')), file);
  });
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    $('details-error').textContent = error.message;
  }
}

function showMeta(file) {
  const entries = [
    ['Size', `${humanSize(file.size)} (${file.size.toLocaleString()} bytes)`],
    ['Type', file.content_type],
    ['Created', humanDate(file.created_at)],
    ['Description', file.description || '—'],
    ['SHA-256', file.sha256],
    ['CID', file.cid || '—'],
  ];
  if (file.corrupt) entries.push(['Integrity', 'Corrupt: the stored bytes no longer match their hash']);
  $('details-meta').replaceChildren(
    ...entries.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { class: 'wrap', text: value })]),
  );
}

// Statistics as people read them: six significant digits (a mean is
// 50.7181, not 50.718093999999965), separators for thousands; dates as given.
const STATISTIC = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 6 });
function statistic(value) {
  if (value === undefined || value === null) return '';
  return typeof value === 'number' ? STATISTIC.format(value) : String(value);
}

function showProfile(profile) {
  if (!profile) return;
  const count = (value) => (value === undefined || value === null ? '' : value.toLocaleString());
  const rows = profile.columns.map((column) => [
    column.name, column.dtype, count(column.missing),
    column.distinct_estimated ? `≈ ${count(column.distinct)}` : count(column.distinct),
    statistic(column.min), statistic(column.max), statistic(column.mean),
  ]);
  const estimated = profile.columns.some((column) => column.distinct_estimated);
  $('details-profile').replaceChildren(
    el('h3', { text: `Dataset: ${profile.rows.toLocaleString()} rows, ${profile.columns.length} columns` }),
    textTable(['Column', 'dtype', 'Missing', 'Distinct', 'Min', 'Max', 'Mean'], rows),
    estimated ? el('p', { class: 'muted', text: '≈ an estimate, within about 2 %: distinct values are counted exactly up to 128.' }) : null,
  );
}

async function showPreview(preview, file) {
  const area = $('details-preview');
  switch (preview.kind) {
    case 'table': {
      const note = preview.truncated ? `The first ${preview.rows.length} rows.` : `All ${preview.rows.length} rows.`;
      area.replaceChildren(el('p', { class: 'muted', text: note }), textTable(preview.columns, preview.rows));
      break;
    }
    case 'text':
      area.replaceChildren(el('pre', { class: 'text-preview', text: preview.text }));
      if (preview.truncated) area.append(el('p', { class: 'muted', text: 'The first 64 KiB.' }));
      break;
    case 'image': {
      const blob = await (await request(fileUrl(file.file_name, '/content'))).blob();
      const url = URL.createObjectURL(blob);
      imageUrls.push(url);
      area.replaceChildren(el('img', { src: url, alt: `Preview of ${file.file_name}` }));
      break;
    }
    default:
      area.replaceChildren(el('p', { class: 'muted', text: 'No preview for this type of file; download it to open it.' }));
  }
}
