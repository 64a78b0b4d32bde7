"""A one-file web chat page served at ``/chat`` (talks to ``POST /v1/chat``)."""

CHAT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>profilake chat</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
#log{border:1px solid #ccc;border-radius:6px;padding:.5rem;min-height:12rem;margin:.5rem 0}
.me{text-align:right;color:#234}.bot{color:#063}.meta{font-size:.75rem;color:#777}
input{padding:.3rem;margin:.1rem}
</style></head><body>
<h1>profilake chat</h1>
<p><input id="key" type="password" placeholder="API key" size="18">
<input id="cid" placeholder="customer id, e.g. C0000001" size="24"></p>
<div id="log"></div>
<form id="f"><input id="msg" placeholder="hi, where is my order?" size="44" autofocus>
<button>Send</button></form>
<script>
const log = document.getElementById('log');
function add(cls, text) { const d = document.createElement('div'); d.className = cls;
  d.textContent = text; log.appendChild(d); }
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const msg = document.getElementById('msg').value; if (!msg) return;
  add('me', msg); document.getElementById('msg').value = '';
  const r = await fetch('/v1/chat', {method: 'POST', headers: {'Content-Type':
    'application/json', 'X-API-Key': document.getElementById('key').value},
    body: JSON.stringify({message: msg, id_type: 'customer_id',
      id_value: document.getElementById('cid').value})});
  const body = await r.json();
  if (!r.ok) { add('meta', r.status + ' ' + JSON.stringify(body.detail)); return; }
  add('bot', body.text);
  add('meta', 'intent ' + body.intent + ' · ' + body.language + ' · personalized '
    + body.personalized + (body.handover ? ' · handed to an agent' : ''));
});
</script></body></html>
"""
