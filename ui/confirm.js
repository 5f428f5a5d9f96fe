// The dialog that confirms a deletion: resolves true for "Delete", false
// for "Cancel" or Escape. Cancel has the focus, so Enter does no harm.

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
