// A short message at the edge of the page, read out by screen readers.

const $ = (id) => document.getElementById(id);

let toastTimer;
export function toast(message) {
  $('toast').textContent = message;
  $('toast').classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => $('toast').classList.remove('shown'), 4000);
}

export function report(error) {
  toast(error.message);
}
