// A rows-per-second line chart in SVG: no library. The page hands it the server's last 5 minutes (at most 300
// values) each second and the chart redraws from them, so it keeps nothing that grows.
const NS = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 140;
const SLOTS = 300;

function el(name, attributes) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** A round number just above `value`, for the chart's scale. */
function niceCeiling(value) {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** Draws `rates` (oldest first) into `svg`, newest at the right edge. */
export function drawRates(svg, rates) {
  const values = rates.slice(-SLOTS);
  const max = niceCeiling(Math.max(0, ...values));
  const children = [];
  for (const fraction of [0.5, 1]) {
    const y = HEIGHT - fraction * (HEIGHT - 12);
    children.push(el("line", { class: "grid", x1: 0, x2: WIDTH, y1: y, y2: y }));
    const label = el("text", { x: 4, y: y - 2 });
    label.textContent = String(Math.round(max * fraction));
    children.push(label);
  }
  const step = WIDTH / (SLOTS - 1);
  const offset = SLOTS - values.length;
  const points = values.map((value, i) => `${((offset + i) * step).toFixed(1)},${(HEIGHT - (value / max) * (HEIGHT - 12)).toFixed(1)}`);
  if (points.length > 0) children.push(el("polyline", { points: points.join(" ") }));
  svg.replaceChildren(...children);
  const last = values.length > 0 ? values[values.length - 1] : 0;
  svg.dataset.lastRate = String(last);
  svg.dataset.maxRate = String(Math.max(0, ...values));
  svg.dataset.points = String(values.length);
}
