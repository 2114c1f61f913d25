// The demo page (example_project/templates/demo/index.html): the bundled client in cookie
// mode, driven by buttons. No build step: an ES module next to tokenauth's own.

import { TokenAuthClient, TokenAuthError } from "../tokenauth/client.js";

const RENEW_BEFORE_SECONDS = 30; // renew this long before the access token expires
const RETRY_AFTER_SECONDS = 5; // after a renewal the server could not answer

const { authUrl, meUrl } = document.querySelector("main").dataset;
const $ = (id) => document.getElementById(id);

const auth = new TokenAuthClient({
  baseUrl: authUrl,
  onSessionEnd: () => ended(), // called by client.js versions that have it
});

let loggedIn = false;
let expiresAt = 0; // when the access token in use expires, on this page's clock
let retryAt = 0;
let ticker = null;
let renewing = null;
let renewals = 0;

function say(text) {
  $("status").textContent = text;
}

function showLogin(message) {
  loggedIn = false;
  clearInterval(ticker);
  ticker = null;
  $("session").hidden = true;
  $("sessions").replaceChildren();
  $("login").hidden = false;
  say(message);
}

// The server ended the session (revoked, expired, logged out elsewhere): once, quietly.
function ended() {
  if (loggedIn) {
    showLogin("Your session has ended (revoked, expired or logged out elsewhere). Log in again.");
  }
}

async function enterSession() {
  loggedIn = true;
  $("login").hidden = true;
  $("session").hidden = false;
  if (await showMe()) {
    await showSessions();
  }
}

// GET /api/me/: the name, and how long the access token has left.
async function showMe() {
  const response = await auth.fetch(meUrl);
  if (response.status === 401) {
    ended();
    return false;
  }
  if (!response.ok) {
    say(`GET ${meUrl} answered ${response.status}.`);
    return false;
  }
  const me = await response.json();
  $("username").textContent = me.username;
  expiresAt = Date.now() + me.access_token_expires_in * 1000;
  ticker ??= setInterval(tick, 1000);
  tick();
  return true;
}

function tick() {
  const left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
  const seconds = String(left % 60).padStart(2, "0");
  $("access-remaining").textContent = `${Math.floor(left / 60)}:${seconds}`;
  if (left <= RENEW_BEFORE_SECONDS && Date.now() >= retryAt) {
    renew();
  }
}

// One renewal at a time, whether the ticker or the button asked.
function renew() {
  renewing ??= (async () => {
    try {
      await auth.refresh();
    } catch (error) {
      if (error instanceof TokenAuthError && error.status < 500) {
        ended(); // invalid_grant: revoked or expired; never retried
      } else {
        retryAt = Date.now() + RETRY_AFTER_SECONDS * 1000;
        say(`Renewal failed (${error.message}); trying again in ${RETRY_AFTER_SECONDS} s.`);
      }
      return;
    }
    renewals += 1;
    $("renewals").textContent = String(renewals);
    say(`Access token renewed at ${new Date().toLocaleTimeString()}.`);
    await showMe();
  })().finally(() => {
    renewing = null;
  });
  return renewing;
}

async function showSessions() {
  const response = await auth.fetch(`${authUrl}sessions/`);
  if (response.status === 401) {
    ended();
    return;
  }
  if (!response.ok) {
    say(`GET ${authUrl}sessions/ answered ${response.status}.`);
    return;
  }
  $("sessions").replaceChildren(...(await response.json()).map(sessionRow));
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// textContent only: a user agent is whatever the logging-in client sent.
function sessionRow(session) {
  const row = document.createElement("tr");
  row.dataset.sessionId = session.id;
  row.classList.toggle("current", session.current);
  const cells = [
    [session.current ? "this browser" : "", "current-mark"],
    [session.user_agent, "browser"],
    [session.ip_address ?? "", "ip"],
    [when(session.created_at), "created"],
    [when(session.last_used_at), "last-used"],
    [when(session.expires_at), "expires"],
  ];
  for (const [text, name] of cells) {
    const cell = document.createElement("td");
    cell.className = name;
    cell.textContent = text;
    row.append(cell);
  }
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Revoke";
  if (session.current) {
    button.title = "This browser's own session: the same as Log out";
  }
  button.addEventListener("click", () => revoke(session));
  const actions = document.createElement("td");
  actions.append(button);
  row.append(actions);
  return row;
}

async function revoke(session) {
  if (session.current) {
    await logOut(); // revokes this family and clears its cookie too
    return;
  }
  const url = `${authUrl}sessions/${encodeURIComponent(session.id)}/`;
  const response = await auth.fetch(url, { method: "DELETE" });
  if (response.status === 401) {
    ended();
    return;
  }
  // 404: revoked meanwhile (elsewhere, or it expired): gone all the same.
  if (response.status === 204 || response.status === 404) {
    say("Session revoked: its next refresh fails.");
  } else {
    say(`DELETE ${url} answered ${response.status}.`);
  }
  await showSessions();
}

async function logOut() {
  loggedIn = false;
  try {
    await auth.logout();
  } catch (error) {
    showLogin(`Logged out here; the server said: ${error.message}`);
    return;
  }
  showLogin("You are logged out.");
}

async function logOutEverywhere() {
  loggedIn = false;
  try {
    await auth.logoutAll();
  } catch (error) {
    showLogin(`Logged out here; the server said: ${error.message}`);
    return;
  }
  showLogin("Logged out everywhere: every session of this user is revoked.");
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const submit = event.target.querySelector("button");
  submit.disabled = true;
  try {
    await auth.login({ username: form.get("username"), password: form.get("password") });
  } catch (error) {
    say(`Login refused: ${error.message}`);
    return;
  } finally {
    submit.disabled = false;
  }
  say("Logged in.");
  await enterSession();
});
$("renew-now").addEventListener("click", () => renew());
$("logout").addEventListener("click", () => logOut());
$("logout-all").addEventListener("click", () => logOutEverywhere());
$("reload-sessions").addEventListener("click", () => showSessions());

// Resume the session the refresh cookie holds, if any (no request at all in a browser that has
// had no session since its last logout).
const resumed = await auth.restore();
if (resumed) {
  say("Session resumed from the refresh cookie.");
  await enterSession();
} else {
  showLogin("Not logged in.");
}
