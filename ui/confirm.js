// The dialog that confirms a deletion: resolves true for "Delete", false
// for "Cancel" or Escape. Cancel has the focus, so Enter does no harm. And
// the one that asks for a name (a new folder, where to move something):
// resolves the name typed, or null.

const $ = (id) => document.getElementById(id);

export function confirmDeletion(text) {
  const dialog = $('confirm-delete');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const answer = (yes) => () => {
      dialog.removeEventListener('close', no);
      $('confirm-yes').removeEventListener('click', yesClicked);
      $('confirm-cancel').removeEventListener('click', no);
      if (dialog.open) dialog.close();
      resolve(yes);
    };
    const yesClicked = answer(true);
    const no = answer(false);
    $('confirm-yes').addEventListener('click', yesClicked);
    $('confirm-cancel').addEventListener('click', no);
    dialog.addEventListener('close', no);
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

export function askName(text, value = '') {
  const dialog = $('ask-name');
  const input = $('ask-name-input');
  $('ask-name-text').textContent = text;
  input.value = value;
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener('close', closed);
      $('ask-name-form').removeEventListener('submit', submitted);
      $('ask-name-cancel').removeEventListener('click', closed);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const submitted = (event) => { event.preventDefault(); done(input.value.trim() || null); };
    const closed = () => done(null);
    $('ask-name-form').addEventListener('submit', submitted);
    $('ask-name-cancel').addEventListener('click', closed);
    dialog.addEventListener('close', closed);
    dialog.showModal();
    input.focus();
    input.select();
  });
}
