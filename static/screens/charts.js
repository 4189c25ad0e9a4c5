/* The usage dashboard's charts: small SVG drawings from JSON the server embeds.
 *
 * No library, no build step, no network: every chart is a <div class="chart"
 * data-chart="ID"> next to a <script type="application/json" id="ID"> written by Django's
 * json_script. Three kinds exist:
 *   "columns": time buckets on x, one stacked column per bucket ({x, series[{key,label,values}]})
 *   "bars":    one horizontal row per item, stacked or grouped parts ({rows[{label,values}], series})
 *   "line":    series over time, with markers ({x, series[{key,label,values}]}); one series
 *              is drawn with its area filled, several as lines told apart by dash and
 *              marker shape as well as colour; a null value is a gap in its line
 * A spec may carry "empty", the words shown when it has nothing to draw.
 * Every series gets a colour AND a fill pattern, values are written on the bars, and the
 * page carries the same numbers in tables, so nothing depends on telling colours apart.
 */
(function () {
    "use strict";

    var SVG = "http://www.w3.org/2000/svg";
    var PATTERNS = ["solid", "stripes", "dots", "cross", "hlines", "vlines"];
    var COLOURS = 6;

    function el(name, attrs, parent) {
        var node = document.createElementNS(SVG, name);
        Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
        if (parent) { parent.appendChild(node); }
        return node;
    }

    function text(parent, x, y, value, attrs) {
        var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
        node.textContent = value;
        return node;
    }

    function tooltip(node, value) {
        el("title", {}, node).textContent = value;
    }

    function format(value, kind) {
        if (value === null || value === undefined || isNaN(value)) { return "–"; }
        if (kind === "usd") {
            var abs = Math.abs(value);
            if (abs === 0) { return "$0"; }
            if (abs >= 0.01) {
                var digits = abs >= 100 ? 0 : (abs >= 1 ? 2 : 4);
                return "$" + Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
            }
            // Free-tier and stub traffic costs fractions of a cent: keep 3 significant digits.
            return "$" + Number(Number(value).toPrecision(3)).toFixed(Math.min(12, 2 - Math.floor(Math.log10(abs))));
        }
        if (kind === "ms") { return Math.round(value).toLocaleString("en-US") + " ms"; }
        if (kind === "ms-fine") { return Number(Number(value).toPrecision(3)) + " ms"; }
        if (kind === "us") { return Number(Number(value).toPrecision(3)) + " µs"; }
        if (kind === "s") { return Number(Number(value).toPrecision(3)) + " s"; }
        if (kind === "percent") { return Number(value).toFixed(value >= 99.95 || value === 0 ? 0 : 1) + "%"; }
        if (kind === "bytes") { return bytes(value); }
        return compact(value);
    }

    function bytes(value) {
        var units = ["bytes", "KB", "MB", "GB", "TB"];  // binary, as Django's filesizeformat
        var i = 0;
        while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
        return (i ? Number(value.toPrecision(3)) : Math.round(value)) + " " + units[i];
    }

    function compact(value) {
        var abs = Math.abs(value);
        if (abs >= 1e9) { return (value / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "G"; }
        if (abs >= 1e6) { return (value / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M"; }
        if (abs >= 1e4) { return (value / 1e3).toFixed(abs >= 1e5 ? 0 : 1) + "k"; }
        return Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
    }

    function niceMax(max) {
        if (!(max > 0)) { return 1; }
        var magnitude = Math.pow(10, Math.floor(Math.log10(max)));
        var steps = [1, 2, 2.5, 5, 10];
        for (var i = 0; i < steps.length; i++) {
            if (steps[i] * magnitude >= max) { return steps[i] * magnitude; }
        }
        return 10 * magnitude;
    }

    /* A <pattern> per series: colour from the admin-aware palette, texture from PATTERNS. */
    function definePatterns(svg, prefix, count) {
        var defs = el("defs", {}, svg);
        for (var i = 0; i < count; i++) {
            var p = el("pattern", { id: prefix + "-p" + i, patternUnits: "userSpaceOnUse", width: 6, height: 6 }, defs);
            var base = el("rect", { width: 6, height: 6 }, p);
            base.style.fill = "var(--screen-chart-" + ((i % COLOURS) + 1) + ")";
            var ink = { "stroke-width": 1.4 };
            var kind = PATTERNS[i % PATTERNS.length];
            var mark = null;
            if (kind === "stripes") { mark = el("path", Object.assign({ d: "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" }, ink), p); }
            if (kind === "dots") { el("circle", { cx: 3, cy: 3, r: 1.3 }, p).style.fill = "var(--body-bg)"; }
            if (kind === "cross") { mark = el("path", Object.assign({ d: "M0,0 l6,6 M6,0 l-6,6" }, ink), p); }
            if (kind === "hlines") { mark = el("path", Object.assign({ d: "M0,3 h6" }, ink), p); }
            if (kind === "vlines") { mark = el("path", Object.assign({ d: "M3,0 v6" }, ink), p); }
            if (mark) { mark.style.stroke = "var(--body-bg)"; }
        }
    }

    function fill(node, prefix, index) {
        node.setAttribute("fill", "url(#" + prefix + "-p" + index + ")");
        node.style.stroke = "var(--body-fg)";
        node.style.strokeWidth = "0.5";
    }

    function legend(container, prefix, series) {
        var list = document.createElement("ul");
        list.className = "chart-legend";
        series.forEach(function (s, i) {
            var item = document.createElement("li");
            var swatch = el("svg", { viewBox: "0 0 24 14", "aria-hidden": "true" });
            definePatterns(swatch, prefix + "-l" + i, series.length);
            fill(el("rect", { width: 24, height: 14 }, swatch), prefix + "-l" + i, i);
            item.appendChild(swatch);
            item.appendChild(document.createTextNode(s.label));
            list.appendChild(item);
        });
        container.appendChild(list);
    }

    function frame(container, spec, height) {
        var width = Math.max(320, Math.floor(container.clientWidth || 600));
        var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-labelledby": spec.id + "-t " + spec.id + "-d" });
        el("title", { id: spec.id + "-t" }, svg).textContent = spec.title || "";
        el("desc", { id: spec.id + "-d" }, svg).textContent = spec.description || "";
        container.appendChild(svg);
        return { svg: svg, width: width, height: height };
    }

    function yAxis(svg, box, max, kind) {
        var grid = el("g", { "class": "grid" }, svg);
        var axis = el("g", { "class": "axis" }, svg);
        for (var i = 0; i <= 4; i++) {
            var value = max * i / 4;
            var y = box.bottom - (box.bottom - box.top) * i / 4;
            el("line", { x1: box.left, x2: box.right, y1: y, y2: y }, grid);
            text(axis, box.left - 6, y + 4, format(value, kind), { "text-anchor": "end" });
        }
        el("line", { x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom }, axis);
    }

    function xLabels(svg, box, labels, step) {
        var axis = el("g", { "class": "axis" }, svg);
        var every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((box.right - box.left) / 70))));
        labels.forEach(function (label, i) {
            if (i % every) { return; }
            text(axis, box.left + step * (i + 0.5), box.bottom + 16, label, { "text-anchor": "middle" });
        });
    }

    function columns(container, spec) {
        var f = frame(container, spec, 260);
        var series = spec.series;
        var n = spec.x.length;
        var totals = spec.x.map(function (_, i) {
            return series.reduce(function (sum, s) { return sum + (s.values[i] || 0); }, 0);
        });
        var max = niceMax(Math.max.apply(null, totals.concat([0])));
        var box = { left: 52, right: f.width - 8, top: 14, bottom: 230 };
        definePatterns(f.svg, spec.id, series.length);
        yAxis(f.svg, box, max, spec.format);
        var step = (box.right - box.left) / Math.max(n, 1);
        var barWidth = Math.max(1, step * 0.8);
        var scale = (box.bottom - box.top) / max;
        var bars = el("g", { "class": "bars" }, f.svg);
        for (var i = 0; i < n; i++) {
            var y = box.bottom;
            var x = box.left + step * i + (step - barWidth) / 2;
            series.forEach(function (s, k) {
                var v = s.values[i] || 0;
                if (v <= 0) { return; }
                var h = v * scale;
                y -= h;
                var rect = el("rect", { x: x, y: y, width: barWidth, height: h }, bars);
                fill(rect, spec.id, k);
                tooltip(rect, spec.x[i] + " · " + s.label + ": " + format(v, spec.format));
            });
            if (totals[i] > 0 && step >= 26) {
                text(bars, x + barWidth / 2, y - 3, compact(totals[i]), { "text-anchor": "middle", "class": "value-label" });
            }
        }
        xLabels(f.svg, box, spec.x, step);
        legend(container, spec.id, series);
    }

    function bars(container, spec) {
        var rows = spec.rows;
        var series = spec.series;
        var grouped = spec.mode === "grouped";
        var lane = grouped ? 14 * series.length + 8 : 24;
        var f = frame(container, spec, Math.max(40, rows.length * lane + 10));
        definePatterns(f.svg, spec.id, series.length);
        var labelWidth = Math.min(270, Math.max(90, f.width * 0.4));
        var valueRoom = 90;
        var left = labelWidth + 8;
        var span = f.width - left - valueRoom;
        var max = Math.max.apply(null, rows.map(function (r) {
            return grouped ? Math.max.apply(null, r.values.concat([0])) : r.values.reduce(function (a, b) { return a + (b || 0); }, 0);
        }).concat([0]));
        max = max > 0 ? max : 1;
        rows.forEach(function (row, r) {
            var top = 5 + r * lane;
            var name = row.label.length > labelWidth / 6.2 ? row.label.slice(0, Math.floor(labelWidth / 6.2) - 1) + "…" : row.label;
            var label = text(f.svg, labelWidth, top + (grouped ? lane / 2 : 15), name, { "text-anchor": "end" });
            tooltip(label, row.label);
            var x = left;
            row.values.forEach(function (v, k) {
                v = v || 0;
                var w = Math.max(v > 0 ? 1 : 0, v / max * span);
                var y = grouped ? top + k * 14 : top + 3;
                var rect = el("rect", { x: grouped ? left : x, y: y, width: w, height: grouped ? 12 : 16 }, f.svg);
                fill(rect, spec.id, k);
                tooltip(rect, row.label + " · " + series[k].label + ": " + format(v, spec.format));
                if (grouped) {
                    text(f.svg, left + w + 4, y + 10, series[k].short + " " + format(v, spec.format), { "class": "value-label" });
                } else {
                    x += w;
                }
            });
            if (!grouped) {
                var total = row.values.reduce(function (a, b) { return a + (b || 0); }, 0);
                text(f.svg, x + 4, top + 15, format(total, spec.format), { "class": "value-label" });
            }
        });
        if (series.length > 1) { legend(container, spec.id, series); }
    }

    var DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 4", "1 5"];
    var MARKERS = ["circle", "square", "diamond", "triangle", "circle", "square"];

    function marker(parent, shape, x, y, r, k) {
        var node;
        if (shape === "square") { node = el("rect", { x: x - r, y: y - r, width: 2 * r, height: 2 * r }, parent); }
        else if (shape === "diamond") { node = el("path", { d: "M" + x + "," + (y - r - 1) + " l" + (r + 1) + "," + (r + 1) + " l-" + (r + 1) + "," + (r + 1) + " l-" + (r + 1) + ",-" + (r + 1) + " Z" }, parent); }
        else if (shape === "triangle") { node = el("path", { d: "M" + x + "," + (y - r - 1) + " l" + (r + 1) + "," + (2 * r + 1) + " h-" + (2 * r + 2) + " Z" }, parent); }
        else { node = el("circle", { cx: x, cy: y, r: r }, parent); }
        node.setAttribute("class", "marker");
        if (k !== null) { node.style.stroke = "var(--screen-chart-" + ((k % COLOURS) + 1) + ")"; }
        return node;
    }

    function lineLegend(container, series) {
        var list = document.createElement("ul");
        list.className = "chart-legend";
        series.forEach(function (s, k) {
            var item = document.createElement("li");
            var swatch = el("svg", { viewBox: "0 0 30 14", "aria-hidden": "true" });
            var stroke = el("path", { d: "M1,7 h28", "class": "line", "stroke-dasharray": DASHES[k % DASHES.length] }, swatch);
            stroke.style.stroke = "var(--screen-chart-" + ((k % COLOURS) + 1) + ")";
            marker(swatch, MARKERS[k % MARKERS.length], 15, 7, 3, k);
            item.appendChild(swatch);
            item.appendChild(document.createTextNode(s.label));
            list.appendChild(item);
        });
        container.appendChild(list);
    }

    function line(container, spec) {
        var f = frame(container, spec, 220);
        var several = spec.series.length > 1;
        var all = [];
        spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) { all.push(v); } }); });
        var max = niceMax(Math.max.apply(null, all.concat([0])));
        var box = { left: 72, right: f.width - 60, top: 14, bottom: 190 };
        yAxis(f.svg, box, max, spec.format);
        var n = spec.x.length;
        var step = (box.right - box.left) / Math.max(n, 1);
        spec.series.forEach(function (s, k) {
            var values = s.values;
            var points = values.map(function (v, i) {
                return v === null || v === undefined ? null : [box.left + step * (i + 0.5), box.bottom - v / max * (box.bottom - box.top)];
            });
            var d = "";
            var pen = "M";
            points.forEach(function (p) {
                if (!p) { pen = "M"; return; }
                d += pen + p[0].toFixed(1) + "," + p[1].toFixed(1) + " ";
                pen = "L";
            });
            if (!d) { return; }
            var drawn = points.filter(function (p) { return p; });
            if (!several) {
                el("path", { d: d + "L" + drawn[drawn.length - 1][0].toFixed(1) + "," + box.bottom + " L" + drawn[0][0].toFixed(1) + "," + box.bottom + " Z", "class": "area" }, f.svg);
            }
            var path = el("path", { d: d, "class": "line", "stroke-dasharray": several ? DASHES[k % DASHES.length] : "" }, f.svg);
            if (several) { path.style.stroke = "var(--screen-chart-" + ((k % COLOURS) + 1) + ")"; }
            points.forEach(function (p, i) {
                if (!p) { return; }
                var dot = several ? marker(f.svg, MARKERS[k % MARKERS.length], p[0], p[1], step > 8 ? 3 : 1.5, k)
                    : el("circle", { cx: p[0], cy: p[1], r: step > 8 ? 3 : 1.5, "class": "marker" }, f.svg);
                tooltip(dot, spec.x[i] + (several ? " · " + s.label : "") + ": " + format(values[i], spec.format));
            });
            if (!several) {
                var peak = values.indexOf(Math.max.apply(null, all));
                if (values[peak] > 0) {
                    text(f.svg, points[peak][0], points[peak][1] - 7, "peak " + format(values[peak], spec.format), { "text-anchor": "middle", "class": "value-label" });
                }
            }
        });
        xLabels(f.svg, box, spec.x, step);
        if (several) { lineLegend(container, spec.series); }
    }

    var KINDS = { columns: columns, bars: bars, line: line };

    function draw(container) {
        var source = document.getElementById(container.dataset.chart);
        if (!source) { return; }
        var spec = JSON.parse(source.textContent);
        spec.id = container.dataset.chart;
        container.textContent = "";
        var empty = spec.kind === "bars" ? !spec.rows.length : !spec.x.length ||
            !spec.series.some(function (s) { return s.values.some(function (v) { return v > 0 || (spec.zeroIsData && v === 0); }); });
        if (empty) {
            var note = document.createElement("p");
            note.className = "empty";
            note.textContent = spec.empty || "No usage in this period.";
            container.appendChild(note);
        } else {
            KINDS[spec.kind](container, spec);
        }
        container.dataset.drawn = "true";
    }

    function drawAll() {
        Array.prototype.forEach.call(document.querySelectorAll(".chart[data-chart]"), draw);
    }

    var resizeTimer = null;
    window.addEventListener("resize", function () {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(drawAll, 150);
    });
    document.addEventListener("DOMContentLoaded", drawAll);
    window.usageCharts = { drawAll: drawAll, format: format };
})();
