// Light HTML blocks (the neuron card's grids and chips, share links, ranked-neuron lists, small tables), drawn
// straight into the page (an st.components.v2 component): no per-element React work or sanitiser pass on a
// rerun, and no element code for the browser to fetch on a page's first load.
// The HTML comes from ui/html.py, which escapes every text it inserts. A click on any element with a
// data-unit attribute sends the trigger value "open" = that unit to Python; a data-copy button copies the text of
// its block's data-share element (a share link) to the clipboard, with no round trip to Python.
export default function (component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(".cv");
  if (!root) {
    root = document.createElement("div");
    root.className = "cv";
    parentElement.appendChild(root);
    root.addEventListener("click", (event) => {
      const copy = event.target.closest("[data-copy]");
      if (copy) { copyShared(root, copy); return; }
      const target = event.target.closest("[data-unit]");
      if (!target) return;
      if (target.tagName === "A") {  // a link: a plain click stays in the app, a new-tab click follows the href
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
      }
      root.component.setTriggerValue("open", Number(target.dataset.unit));
    });
  }
  root.component = component; // the newest callbacks, for the listener above
  const html = (data && data.html) || "";
  if (root.shownHtml !== html) { // a rerun that leaves this block unchanged touches nothing
    root.innerHTML = html;
    root.shownHtml = html;
  }
}

// Copy the share link: the async clipboard API where the page may use it (https or localhost), else select the
// text and use the older copy command (a dashboard served over plain http on a LAN address). The button says
// whether it worked; the text stays selectable either way.
async function copyShared(root, button) {
  const source = root.querySelector("[data-share]");
  if (!source) return;
  let ok = false;
  try {
    await navigator.clipboard.writeText(source.textContent);
    ok = true;
  } catch (err) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { ok = document.execCommand("copy"); } catch (err2) { ok = false; }
  }
  button.textContent = ok ? "Copied" : "Press Ctrl+C";
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => { button.textContent = "Copy"; }, 1500);
}
