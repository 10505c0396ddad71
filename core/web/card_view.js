// The neuron card's HTML blocks (dataset-example grids, similar-neuron chips), drawn straight into the page
// (an st.components.v2 component): no per-element React work or sanitiser pass on a neuron switch.
// The HTML comes from core/card.py, which escapes every text it inserts. A click on any element with a
// data-unit attribute sends the trigger value "open" = that unit to Python.
export default function (component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(".cv");
  if (!root) {
    root = document.createElement("div");
    root.className = "cv";
    parentElement.appendChild(root);
    root.addEventListener("click", (event) => {
      const target = event.target.closest("[data-unit]");
      if (target) root.component.setTriggerValue("open", Number(target.dataset.unit));
    });
  }
  root.component = component; // the newest callbacks, for the listener above
  const html = (data && data.html) || "";
  if (root.shownHtml !== html) { // a rerun that leaves this block unchanged touches nothing
    root.innerHTML = html;
    root.shownHtml = html;
  }
}
