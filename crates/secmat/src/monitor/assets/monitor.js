/* secmat web monitor: optional enhancements. Every page works without this script; the server
   checks everything again (secmat_core::validate) and its answer is the one that counts.

   - Checks as the user types: required fields, at most N characters, the URL's shape, and the
     custom parameter rules (no empty or white-space-only fields, no reserved keys, no duplicate
     Key + Value + Send as Part of, at most N rows). Limits and reserved keys come from the page
     (data-max-chars, data-max-rows, data-reserved), which takes them from the server's rules.
   - Adds and deletes custom parameter rows without a round trip.
   - Moves focus to the error summary after a rejected submit; closes the Add menu on Escape. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function chars(s) {
    return Array.from(s).length;
  }

  function setMessage(slot, message, keepServer) {
    if (!slot) return;
    if (!message && keepServer && slot.dataset.server === "1") return;
    slot.textContent = message || "";
    slot.dataset.server = "0";
  }

  function markInvalid(input, invalid) {
    if (invalid) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /* The Add menu: Escape closes it and returns focus to its button; a click elsewhere too. */
  function menus() {
    document.querySelectorAll("details.menu").forEach(function (menu) {
      menu.addEventListener("keydown", function (e) {
        if (e.key === "Escape" && menu.open) {
          menu.open = false;
          menu.querySelector("summary").focus();
        }
      });
    });
    document.addEventListener("click", function (e) {
      document.querySelectorAll("details.menu[open]").forEach(function (menu) {
        if (!menu.contains(e.target)) menu.open = false;
      });
    });
  }

  function credentialForm(form) {
    var maxChars = parseInt(form.dataset.maxChars, 10) || 1024;
    var params = document.getElementById("f-CustomParameters");
    var tbody = document.getElementById("cp-rows");
    var template = document.getElementById("cp-template");
    var addButton = document.getElementById("cp-add");
    var tableError = document.getElementById("f-CustomParameters-error");
    var maxRows = parseInt(params.dataset.maxRows, 10) || 20;
    var reserved = (params.dataset.reserved || "").split(" ").filter(Boolean);
    var status = document.getElementById("form-client-errors");

    // Server messages stay until the user changes what they are about.
    form.querySelectorAll(".error").forEach(function (slot) {
      slot.dataset.server = slot.textContent.trim() ? "1" : "0";
    });

    /* Plain fields */
    function fieldMessage(input) {
      var label = input.dataset.label || input.name;
      var v = input.value;
      if (input.hasAttribute("data-required") && v.trim() === "") {
        return label + " cannot be empty. Enter a valid value.";
      }
      if (chars(v) > maxChars) {
        return label + " is longer than the maximum of " + maxChars + " characters.";
      }
      if (input.hasAttribute("data-url") && v.trim() !== "") {
        var u;
        try {
          u = new URL(v.trim());
        } catch (e) {
          return label + " must be an absolute http:// or https:// URL.";
        }
        if (u.protocol !== "http:" && u.protocol !== "https:") {
          return label + " must use http:// or https://.";
        }
        if (u.username || u.password) {
          return label + " must not contain user information; put the client id and secret in Client ID and Client Secret.";
        }
        if (v.indexOf("#") >= 0) return label + " must not contain a fragment ('#…').";
        if (v.trim() !== v) return label + " must not begin or end with white space.";
      }
      return "";
    }

    function checkField(input, dirty) {
      var message = fieldMessage(input);
      var slot = document.getElementById(input.id + "-error");
      setMessage(slot, message, !dirty);
      markInvalid(input, slot && slot.textContent !== "");
      return message === "";
    }

    var fields = Array.prototype.slice.call(form.querySelectorAll("[data-label]"));
    fields.forEach(function (input) {
      input.addEventListener("input", function () {
        input.dataset.dirty = "1";
        checkField(input, true);
      });
    });

    /* Custom parameter rows */
    function rows() {
      return Array.prototype.slice.call(tbody.querySelectorAll("tr.param-row"));
    }

    function renumber() {
      rows().forEach(function (row, i) {
        var n = i + 1;
        row.id = "cp-" + i;
        ["key", "value", "part"].forEach(function (cell) {
          var input = row.querySelector('[name="cp_' + cell + '"]');
          var label = row.querySelector('td[data-cell="' + cell + '"] label');
          var slot = row.querySelector('td[data-cell="' + cell + '"] .error[id$="-' + cell + '-error"]');
          input.id = "cp-" + i + "-" + cell;
          label.htmlFor = input.id;
          label.querySelector(".sr-only").textContent = ", parameter " + n;
          slot.id = "cp-" + i + "-" + cell + "-error";
          input.setAttribute("aria-describedby", slot.id + " cp-" + i + "-error");
        });
        var rowSlot = row.querySelector('td[data-cell="key"] .error:last-of-type');
        rowSlot.id = "cp-" + i + "-error";
        var del = row.querySelector("[data-delete-row]");
        del.value = "delete-row:" + i;
        del.querySelector(".sr-only").textContent = " parameter " + n;
      });
    }

    function rowParts(row) {
      return {
        key: row.querySelector('[name="cp_key"]'),
        value: row.querySelector('[name="cp_value"]'),
        part: row.querySelector('[name="cp_part"]'),
        keySlot: row.querySelector('[id$="-key-error"]'),
        valueSlot: row.querySelector('[id$="-value-error"]'),
        partSlot: row.querySelector('[id$="-part-error"]'),
        rowSlot: row.querySelector('td[data-cell="key"] .error:last-of-type')
      };
    }

    function textRule(n, what, v) {
      if (v.trim() === "") return "Custom parameter " + n + ": " + what + " cannot be empty or consist only of white space.";
      if (chars(v) > maxChars) return "Custom parameter " + n + ": " + what + " is longer than the maximum of " + maxChars + " characters.";
      return "";
    }

    /* Checks every row; `force` also replaces server messages of rows the user did not touch. */
    function checkParams(force) {
      var seen = {};
      var used = 0;
      var ok = true;
      rows().forEach(function (row, i) {
        var n = i + 1;
        var p = rowParts(row);
        var dirty = force || row.dataset.dirty === "1";
        var keyMsg = "", valueMsg = "", rowMsg = "";
        var key = p.key.value, value = p.value.value, part = p.part.value;
        if (key !== "" || value !== "") {
          used += 1;
          keyMsg = textRule(n, "Key", key);
          if (!keyMsg && reserved.indexOf(key.trim().toLowerCase()) >= 0) {
            keyMsg = "Custom parameter " + n + ': the Key cannot be "client_id", "client_secret" or "grant_type".';
          }
          valueMsg = textRule(n, "Value", value);
          if (!keyMsg && !valueMsg) {
            var id = (part === "header" ? key.toLowerCase() : key) + "\u0000" + value + "\u0000" + part;
            if (seen[id]) {
              rowMsg = "Custom parameter " + n + ": duplicate combinations of Key, Value and Send as Part of are not allowed.";
            }
            seen[id] = true;
          }
        }
        if (keyMsg || valueMsg || rowMsg) ok = false;
        setMessage(p.keySlot, keyMsg, !dirty);
        setMessage(p.valueSlot, valueMsg, !dirty);
        setMessage(p.rowSlot, rowMsg, !dirty);
        if (dirty) setMessage(p.partSlot, "", false);
        var rowBad = p.rowSlot.textContent !== "";
        markInvalid(p.key, rowBad || p.keySlot.textContent !== "");
        markInvalid(p.value, rowBad || p.valueSlot.textContent !== "");
        markInvalid(p.part, rowBad || p.partSlot.textContent !== "");
      });
      var tableMsg = used > maxRows ? "You can add a maximum of " + maxRows + " custom parameters (" + used + " given)." : "";
      setMessage(tableError, tableMsg, !force);
      return ok && !tableMsg;
    }

    tbody.addEventListener("input", function (e) {
      var row = e.target.closest("tr.param-row");
      if (row) row.dataset.dirty = "1";
      checkParams(false);
    });
    tbody.addEventListener("change", function (e) {
      var row = e.target.closest("tr.param-row");
      if (row) row.dataset.dirty = "1";
      checkParams(false);
    });

    addButton.addEventListener("click", function (e) {
      e.preventDefault();
      if (rows().length >= maxRows) {
        setMessage(tableError, "You can add a maximum of " + maxRows + " custom parameters.", false);
        addButton.focus();
        return;
      }
      var row = template.content.querySelector("tr").cloneNode(true);
      tbody.appendChild(row);
      renumber();
      row.querySelectorAll(".error").forEach(function (slot) { slot.dataset.server = "0"; });
      row.querySelector('[name="cp_key"]').focus();
    });

    tbody.addEventListener("click", function (e) {
      var del = e.target.closest("[data-delete-row]");
      if (!del) return;
      e.preventDefault();
      var row = del.closest("tr.param-row");
      var next = row.nextElementSibling;
      row.remove();
      renumber();
      checkParams(false);
      if (rows().length < maxRows) setMessage(tableError, "", false);
      var target = next ? next.querySelector('[name="cp_key"]') : addButton;
      target.focus();
    });

    form.addEventListener("submit", function (e) {
      var okFields = fields.map(function (input) { return checkField(input, true); }).every(Boolean);
      var okParams = checkParams(true);
      if (okFields && okParams) return;
      e.preventDefault();
      var first = form.querySelector('[aria-invalid="true"]');
      var count = form.querySelectorAll('[aria-invalid="true"]').length;
      if (status) status.textContent = "The credentials were not deployed: fix the " + (count === 1 ? "problem" : count + " problems") + " marked on the form.";
      if (first) first.focus();
    });
  }

  menus();
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  var form = document.getElementById("credential-form");
  if (form) credentialForm(form);
})();
