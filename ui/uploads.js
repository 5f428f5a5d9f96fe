// The list of uploads on the Files page: each file's progress, speed and
// time left, Cancel (shown as cancelled once the server has let go of its
// bytes), and — when its name is taken — a way on: replace the file, keep
// both under a free name, or pick another name. Finished entries can be
// cleared.

import { getJson } from './api.js';
import { el, humanDuration, humanSize } from './format.js';
import { report } from './toast.js';
import { upload } from './upload.js';

const $ = (id) => document.getElementById(id);

// How many finished entries stay listed before the oldest go.
const KEEP_FINISHED = 8;

// `options`: { description, session, stored(view), failed() } — the page's.
export function startUpload(file, options, item = null) {
  const bar = el('progress', { max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
  const status = el('span', { class: 'upload-status', text: 'Starting…' });
  const cancel = el('button', { type: 'button', class: 'secondary small', text: 'Cancel', 'aria-label': `Cancel the upload of ${file.name}` });
  const name = options.name ?? file.name;
  const entry = el('li', { 'data-name': name }, el('strong', { class: 'wrap', text: name }), bar, status, cancel);
  if (item) item.replaceWith(entry);
  else $('uploads').prepend(entry);

  const started = performance.now();
  // Bytes already on the server when this page began (a resumed upload) do not count towards the speed.
  let before = null;
  const job = upload(file, {
    name,
    replace: options.replace,
    description: options.description,
    session: options.session,
    progress: (sent, total) => {
      before ??= sent;
      const percent = total ? Math.floor((sent / total) * 100) : 100;
      const seconds = (performance.now() - started) / 1000;
      const speed = seconds > 0 ? (sent - before) / seconds : 0;
      const eta = speed > 0 && sent < total ? ` · ${humanDuration((total - sent) / speed)} left` : '';
      bar.value = percent;
      status.textContent = `${humanSize(sent)} of ${humanSize(total)} · ${percent} % · ${humanSize(speed)}/s${eta}`;
    },
  });
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    status.textContent = 'Cancelling…';
    job.cancel().catch(() => {});
  });

  job.done.then(
    (stored) => {
      bar.value = 100;
      entry.classList.add('done');
      status.textContent = `${humanSize(stored.size)} · 100 % · stored`;
      cancel.remove();
      finished();
      options.stored(stored);
    },
    (error) => {
      entry.classList.add(error.cancelled ? 'cancelled' : 'failed');
      status.textContent = error.cancelled ? 'Cancelled' : `${name}: ${error.message}`;
      if (!error.cancelled) status.setAttribute('role', 'alert');
      cancel.remove();
      if (error.code === 'file_exists') entry.append(waysOn(file, options, entry));
      finished();
      options.failed();
    },
  );
}

// Replace, keep both, or another name, for a file whose name is taken.
function waysOn(file, options, entry) {
  const again = (changes) => startUpload(file, { ...options, ...changes }, entry);
  const name = options.name ?? file.name;
  const rename = el('form', { class: 'row rename', hidden: true });
  const field = el('input', { value: name, 'aria-label': `New name for ${name}`, required: true });
  rename.append(field, el('button', { type: 'submit', class: 'small', text: 'Upload' }));
  rename.addEventListener('submit', (event) => {
    event.preventDefault();
    again({ name: field.value.trim(), replace: false });
  });
  return el(
    'div',
    { class: 'ways-on' },
    el('div', { class: 'row' },
      el('button', {
        type: 'button', class: 'small', text: 'Replace', 'aria-label': `Replace ${name}`,
        onclick: () => again({ replace: true }),
      }),
      el('button', {
        type: 'button', class: 'secondary small', text: 'Keep both', 'aria-label': `Keep both, the new ${name} under another name`,
        onclick: () => freeName(name).then((free) => again({ name: free, replace: false }), report),
      }),
      el('button', {
        type: 'button', class: 'secondary small', text: 'Rename…', 'aria-label': `Upload ${name} under another name`,
        onclick: () => { rename.hidden = false; field.select(); },
      })),
    rename,
  );
}

// `sales (2).csv`, `sales (3).csv` …: the first such name none of the
// user's files has (asked of the listing, which finds names containing the stem).
async function freeName(name) {
  const dot = name.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  const query = new URLSearchParams({ name: stem, limit: 1000 });
  const taken = new Set((await getJson(`/api/v1/files/?${query}`)).map((file) => file.file_name));
  for (let n = 2; ; n += 1) {
    const candidate = `${stem} (${n})${extension}`;
    if (!taken.has(candidate)) return candidate;
  }
}

// Offers to clear finished entries, and lets only the newest few stay.
function finished() {
  const done = [...$('uploads').querySelectorAll('li.done, li.cancelled')];
  for (const old of done.slice(KEEP_FINISHED)) old.remove();
  $('clear-uploads').hidden = !$('uploads').querySelector('li.done, li.cancelled, li.failed');
}

export function setUpUploadList() {
  $('clear-uploads').addEventListener('click', () => {
    for (const entry of $('uploads').querySelectorAll('li.done, li.cancelled, li.failed')) entry.remove();
    $('clear-uploads').hidden = true;
  });
}
