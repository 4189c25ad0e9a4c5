/* Key management: the per-provider "Test" button.
 *
 * Sends the typed key (or nothing, to test the stored key) to the screen's JSON endpoint
 * and shows the answer beside the input. Nothing is saved; the typed key stays in its
 * field and is never written anywhere else on the page.
 */
(function () {
    "use strict";

    function csrfToken(form) {
        var input = form.querySelector("input[name=csrfmiddlewaretoken]");
        return input ? input.value : "";
    }

    function show(output, state, text) {
        output.classList.remove("is-ok", "is-bad", "is-pending");
        output.classList.add(state);
        output.textContent = text;
    }

    function updateLastTest(row, answer) {
        // Only a test of the stored key is recorded on the tenant; reflect that in place.
        if (answer.tested !== "stored") { return; }
        var cell = row.querySelector(".key-last-test");
        cell.textContent = "";
        var badge = document.createElement("span");
        badge.className = "badge " + (answer.valid ? "badge-ok" : "badge-bad");
        badge.textContent = answer.valid ? "Passed" : "Failed";
        var when = document.createElement("span");
        when.className = "quiet";
        when.textContent = " just now";
        cell.append(badge, when);
        row.classList.toggle("is-failing", !answer.valid);
    }

    function test(form, button) {
        var provider = button.dataset.provider;
        var row = document.getElementById("key-row-" + provider);
        var input = row.querySelector("input[type=password]");
        var output = row.querySelector(".test-result");
        var body = { provider: provider };
        if (input.value.trim()) { body.key = input.value.trim(); }
        button.disabled = true;
        show(output, "is-pending", body.key ? "Testing the typed key…" : "Testing the stored key…");
        fetch(form.dataset.testUrl, {
            method: "POST",
            credentials: "same-origin",
            headers: {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-CSRFToken": csrfToken(form),
                "X-Requested-With": "XMLHttpRequest"
            },
            body: JSON.stringify(body)
        }).then(function (response) {
            return response.json().catch(function () {
                throw new Error("Unexpected answer (HTTP " + response.status + "); reload the page.");
            });
        }).then(function (answer) {
            if (answer.error) { throw new Error(answer.error.message); }
            var what = answer.tested === "typed" ? "typed key" : (answer.tested === "stored" ? "stored key" : "");
            show(output, answer.valid ? "is-ok" : "is-bad", (what ? what + ": " : "") + answer.message);
            updateLastTest(row, answer);
        }).catch(function (error) {
            show(output, "is-bad", error.message || "The test could not be run.");
        }).finally(function () {
            button.disabled = false;
        });
    }

    document.addEventListener("DOMContentLoaded", function () {
        var form = document.getElementById("keys-form");
        if (!form) { return; }
        form.addEventListener("click", function (event) {
            var button = event.target.closest("button.test-button");
            if (button) {
                event.preventDefault();
                test(form, button);
            }
        });
    });
})();
