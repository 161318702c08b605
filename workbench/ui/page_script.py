"""Script the page runs in the browser: what the server cannot do for it.

- The tab last used is remembered (``localStorage``) and opened again after a reload.
- A file dropped on the lexicon table is not loaded into it (Gradio's table would replace
  every term with the file's rows, without a word): it goes to the "term list" file box,
  which reads it and offers to merge or replace.
"""

from __future__ import annotations

TAB_KEY = "workbench-tab"  # localStorage key of the last tab used (its id, else its label)

HEAD = (
    """<script>
(() => {
  const KEY = "__KEY__";
  const tabButtons = () => Array.from(document.querySelectorAll('button[role="tab"]'));
  let chosen = false;  // a tab clicked by the user before the remembered one was reopened
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest('button[role="tab"]');
    if (button && event.isTrusted) {
      chosen = true;
      const id = button.dataset.tabId || button.textContent.trim();
      try { localStorage.setItem(KEY, id); } catch (e) {}
    }
  }, true);
  let wanted = null;
  try { wanted = localStorage.getItem(KEY); } catch (e) {}
  if (wanted) {
    const started = Date.now();
    const reopen = () => {
      if (chosen) return;
      const button = tabButtons().find(
        (b) => (b.dataset.tabId || b.textContent.trim()) === wanted);
      if (button) {
        if (button.getAttribute("aria-selected") !== "true") button.click();
      } else if (Date.now() - started < 20000) {
        setTimeout(reopen, 200);
      }
    };
    // Gradio may add this script after the page's load event: poll from now on.
    setTimeout(reopen, 300);
  }
  const onTable = (event) => event.target.closest && event.target.closest("#lexicon-table");
  for (const kind of ["dragenter", "dragover"]) {
    window.addEventListener(kind, (event) => {
      if (onTable(event)) { event.preventDefault(); event.stopImmediatePropagation(); }
    }, true);
  }
  window.addEventListener("drop", (event) => {
    if (!onTable(event)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const input = document.querySelector("#lexicon-import input[type=file]");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (input && files && files.length) {
      const transfer = new DataTransfer();
      transfer.items.add(files[0]);
      input.files = transfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }, true);
})();
</script>"""
).replace("__KEY__", TAB_KEY)
