"""The Hub tab: search the local mirror as you type, open a model's page, download a file into
models/ with a progress bar, insert a LoRA's or embedding's tag into the prompt, see which local
files the catalog knows, sync from a hub server, and the account: wallet, shop, outbox and
notifications (studio/ui/hub_account_js.py, which also keeps every page's model lists fresh).

The tab is a plain container that `HUB_JS` fills and drives with `fetch` against the studio's
own routes (`/studio/v1/hub/...`, studio/http/hub.py): the page never talks to the hub server,
so everything the mirror holds (search, model pages, cached previews) works offline.
"""

from __future__ import annotations

import json

import gradio as gr

from studio.ui.hub_account_js import HUB_ACCOUNT_CSS, HUB_ACCOUNT_HTML, HUB_ACCOUNT_JS

HUB_CSS = """
#hub_root { display: flex; flex-direction: column; gap: 0.6em; }
#hub_root .hub-row { display: flex; gap: 0.5em; flex-wrap: wrap; align-items: center; }
#hub_root input, #hub_root select { padding: 0.3em 0.5em; border: 1px solid var(--border-color-primary);
  border-radius: 6px; background: var(--input-background-fill); color: var(--body-text-color); }
#hub_root button { padding: 0.3em 0.8em; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--body-text-color); cursor: pointer; }
#hub_query { flex: 1; min-width: 16em; }
#hub_main { display: grid; grid-template-columns: minmax(16em, 1fr) 2fr; gap: 1em; }
#hub_results .hub-item { padding: 0.4em; border-bottom: 1px solid var(--border-color-primary); cursor: pointer; }
#hub_results .hub-item:hover { background: var(--block-background-fill); }
#hub_results .hub-meta, #hub_model .hub-meta { font-size: 0.85em; opacity: 0.8; }
#hub_model img { max-height: 160px; margin: 0.2em; border-radius: 6px; }
#hub_model table { font-size: 0.85em; border-collapse: collapse; }
#hub_model td { padding: 0.2em 0.5em; border-bottom: 1px solid var(--border-color-primary); word-break: break-all; }
#hub_downloads progress { width: 14em; }
.hub-offline { color: #c62828; font-weight: 600; }
.hub-unlinked { opacity: 0.7; font-style: italic; }
"""

HUB_HTML = '<div id="hub_root"><p>Loading the hub…</p></div>'

HUB_JS = (
    """
() => {
  if (window.__atelierHub) return;
  window.__atelierHub = true;
  const style = document.createElement('style');
  style.textContent = %CSS%;
  document.head.appendChild(style);
  const TYPES = ['', 'Checkpoint', 'LORA', 'LoCon', 'TextualInversion', 'VAE', 'Controlnet', 'Upscaler'];
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
  const size = (kb) => kb ? (kb > 1024 ? (kb / 1024).toFixed(1) + ' MB' : kb.toFixed(0) + ' KB') : '?';
  const api = async (path, options) => {
    const response = await fetch('/studio/v1/hub' + path, options);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && Array.isArray(body.detail)
        ? body.detail.map((d) => d.loc.slice(-1)[0] + ': ' + d.msg).join('; ')
        : (body && body.detail) || response.statusText;
      throw new Error(detail);
    }
    return body;
  };
  const post = (path, body) => api(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          body: JSON.stringify(body || {})});
  // a description as the server sanitized it, cleaned once more before it enters the page
  const clean = (html) => {
    const doc = new DOMParser().parseFromString(String(html || ''), 'text/html');
    doc.querySelectorAll('script,style,iframe,object,embed,form,link,meta').forEach((n) => n.remove());
    doc.querySelectorAll('*').forEach((n) => [...n.attributes].forEach((a) => {
      if (a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value) || a.name === 'src') n.removeAttribute(a.name);
    }));
    return doc.body.innerHTML;
  };
  const state = {page: 1, total: 0, pageSize: 20, seq: 0, model: null, synced: []};  // synced: run after each sync

  function init(root) {
    root.dataset.ready = '1';
    root.innerHTML = `
      <div class="hub-row">
        <input id="hub_server" placeholder="hub server URL (http://…)" size="32">
        <input id="hub_api_key" type="password" placeholder="API key (optional)" size="20">
        <span class="hub-meta">(also in Settings)</span>
        <button id="hub_sync">Sync now</button>
        <span id="hub_sync_status"></span>
      </div>
      <div class="hub-row">
        <input id="hub_query" placeholder="Search the hub (as you type)…" autocomplete="off">
        <select id="hub_kind"><option value="model">Models</option><option value="article">Articles</option>
          <option value="all">Both</option></select>
        <select id="hub_type">${TYPES.map((t) => `<option value="${t}">${t || 'Any type'}</option>`).join('')}</select>
        <input id="hub_base" placeholder="base model" size="10">
        <input id="hub_tags" placeholder="tags" size="10">
        <input id="hub_creator" placeholder="creator" size="10">
        <select id="hub_nsfw"><option value="hide">Hide NSFW</option><option value="any">Any</option>
          <option value="only">Only NSFW</option></select>
        <select id="hub_sort"><option value="relevance">Relevance</option><option value="downloads">Most downloaded</option>
          <option value="rating">Highest rated</option><option value="newest">Newest</option></select>
      </div>
      <div id="hub_main">
        <div><div id="hub_summary" class="hub-meta"></div><div id="hub_results"></div>
          <div class="hub-row"><button id="hub_prev">‹ Prev</button><span id="hub_page_info"></span>
          <button id="hub_next">Next ›</button></div></div>
        <div id="hub_model"><p class="hub-meta">Pick a result to see its page.</p></div>
      </div>
      <h3>Downloads</h3><div id="hub_downloads"></div>
      <h3>Local models</h3>
      <div class="hub-row"><button id="hub_scan">Scan models folder</button></div>
      <div id="hub_local"></div>%ACCOUNT_HTML%`;
    const $ = (id) => document.getElementById(id);
    const search = async () => {
      const seq = ++state.seq;
      const params = new URLSearchParams({q: $('hub_query').value, kind: $('hub_kind').value,
        nsfw: $('hub_nsfw').value, sort: $('hub_sort').value, page: state.page, page_size: state.pageSize});
      for (const [name, id] of [['types', 'hub_type'], ['base_models', 'hub_base'], ['tags', 'hub_tags'],
                                ['creator', 'hub_creator']]) if ($(id).value) params.set(name, $(id).value);
      try {
        const found = await api('/search?' + params);
        if (seq !== state.seq) return;  // a newer keystroke's answer wins
        state.total = found.total;
        $('hub_summary').textContent = `${found.total} found (${found.tookMs} ms)`;
        $('hub_results').innerHTML = found.items.map((item) => item.kind === 'article'
          ? `<div class="hub-item" data-article="${item.id}"><b>${esc(item.title)}</b>
               <div class="hub-meta">Article · ${esc(item.author || item.creator || '')}</div></div>`
          : `<div class="hub-item" data-model="${item.id}"><b>${esc(item.name)}</b>
               <div class="hub-meta">${esc(item.type)} · ${esc(item.creator)} · ⬇ ${item.downloads} · ★ ${item.rating ?? '-'}
               ${item.nsfw ? ' · NSFW' : ''}</div></div>`).join('');
        const pages = Math.max(1, Math.ceil(found.total / state.pageSize));
        $('hub_page_info').textContent = `page ${state.page} of ${pages}`;
      } catch (error) {
        $('hub_summary').innerHTML = `<span class="atelier-error">${esc(error.message)}</span>`;
      }
    };
    const restart = () => { state.page = 1; search(); };
    $('hub_query').addEventListener('input', restart);
    for (const id of ['hub_kind', 'hub_type', 'hub_nsfw', 'hub_sort']) $(id).addEventListener('change', restart);
    for (const id of ['hub_base', 'hub_tags', 'hub_creator']) $(id).addEventListener('input', restart);
    $('hub_prev').onclick = () => { if (state.page > 1) { state.page--; search(); } };
    $('hub_next').onclick = () => { if (state.page * state.pageSize < state.total) { state.page++; search(); } };
    $('hub_results').onclick = (event) => {
      const item = event.target.closest('.hub-item');
      if (item && item.dataset.model) openModel(item.dataset.model);
      if (item && item.dataset.article) openArticle(item.dataset.article);
    };
    $('hub_model').onclick = async (event) => {
      const button = event.target.closest('button');
      if (!button) return;
      if (button.classList.contains('hub-download')) {
        button.disabled = true;
        try { await post('/downloads', {versionId: +button.dataset.version, fileId: +button.dataset.file}); }
        catch (error) { alert(error.message); }
        refreshDownloads();
      } else if (button.classList.contains('hub-insert')) {
        insertTag(button.dataset.tag);
      }
    };
    $('hub_downloads').onclick = async (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      try { await post(`/downloads/${button.dataset.version}/${button.dataset.action}`); }
      catch (error) { alert(error.message); }
      refreshDownloads();
    };
    $('hub_sync').onclick = async () => {
      const body = {};
      if ($('hub_server').value) body.server = $('hub_server').value;
      if ($('hub_api_key').value) body.apiKey = $('hub_api_key').value;
      try { await post('/sync', body); $('hub_sync_status').textContent = 'Syncing…'; }
      catch (error) { $('hub_sync_status').innerHTML = `<span class="atelier-error">${esc(error.message)}</span>`; }
    };
    $('hub_scan').onclick = async () => {
      $('hub_local').textContent = 'Scanning…';
      const scanned = await post('/scan');
      showLocal(scanned.files);
    };
    initAccount();
    state.synced.push(search);  // what the sync brought shows at once
    search();
    refreshSync();
    refreshDownloads();
    setInterval(() => { if (root.offsetParent !== null) { refreshDownloads(); refreshSync(); } }, 700);
  }

%ACCOUNT_JS%
  function insertTag(tag) {
    const box = document.querySelector('#txt2img_prompt textarea');
    if (!box) return;
    box.value = box.value.trim() ? box.value.trim() + ', ' + tag : tag;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }

  function tagFor(model, version, file) {
    const stem = (file.onDisk || file.name || '').split('/').pop().replace(/\\.[^.]+$/, '');
    const words = (version.trainedWords || []).join(', ');
    if (['LORA', 'LoCon', 'DoRA'].includes(model.type)) return `<lora:${stem}:1>` + (words ? ', ' + words : '');
    if (model.type === 'TextualInversion') return stem + (words ? ', ' + words : '');
    return null;
  }

  async function openModel(id) {
    const box = document.getElementById('hub_model');
    try {
      const model = await api('/models/' + id);
      state.model = model;
      const versions = (model.modelVersions || []).map((v) => `
        <div class="hub-version" data-version="${v.id}"><h4>${esc(v.name)}
          <span class="hub-meta">${esc(v.baseModel || '')}</span></h4>
          ${(v.trainedWords || []).length ? `<div class="hub-meta">Trained words: <code>${esc(v.trainedWords.join(', '))}</code></div>` : ''}
          <div>${(v.localPreviews || []).map((url) => `<img class="hub-preview" src="${esc(url)}" alt="">`).join('')}</div>
          <table>${(v.files || []).map((f) => {
            const tag = tagFor(model, v, f);
            return `<tr><td>${esc(f.name)}</td><td>${size(f.sizeKB)}</td>
              <td><code>${esc((f.hashes || {}).SHA256 || '')}</code></td><td>${f.onDisk
                ? `<span class="hub-on-disk">On disk</span> ${tag ? `<button class="hub-insert" data-tag="${esc(tag)}">Insert tag</button>` : ''}`
                : `<button class="hub-download" data-version="${v.id}" data-file="${f.id}">Download</button>`}</td></tr>`;
          }).join('')}</table></div>`).join('');
      const stats = model.stats || {};
      box.innerHTML = `<h3 id="hub_model_name">${esc(model.name)}</h3>
        <div class="hub-meta">${esc(model.type)} · by ${esc((model.creator || {}).username)} · ⬇ ${stats.downloadCount ?? 0}
          · ★ ${stats.rating ?? '-'} (${stats.ratingCount ?? 0}) · tags: ${esc((model.tags || []).join(', '))}</div>
        <div class="hub-description">${clean(model.description)}</div>${versions}`;
    } catch (error) {
      box.innerHTML = `<p class="atelier-error">${esc(error.message)}</p>`;
    }
  }

  async function openArticle(id) {
    const box = document.getElementById('hub_model');
    const article = await api('/articles/' + id);
    box.innerHTML = `<h3 id="hub_model_name">${esc(article.title)}</h3>
      <div class="hub-meta">${esc((article.user || {}).username || '')}</div>
      <div class="hub-description">${clean(article.content)}</div>`;
  }

  async function refreshDownloads() {
    const box = document.getElementById('hub_downloads');
    if (!box) return;
    const rows = await api('/downloads').catch(() => null);
    if (!rows) return;
    box.innerHTML = rows.length ? rows.map((d) => {
      const percent = d.totalBytes ? Math.floor(100 * d.doneBytes / d.totalBytes) : 0;
      const running = d.status === 'running' || d.status === 'pending';
      const stopped = d.status === 'failed' && d.error && d.error.includes('cancelled');
      return `<div class="hub-download-row hub-row" data-version="${d.versionId}" data-status="${d.status}">
        <span>version ${d.versionId}</span><progress max="100" value="${d.status === 'done' ? 100 : percent}"></progress>
        <span class="hub-download-status">${d.status === 'done' ? 'done' + (d.verified ? ' · hash verified' : '')
          : (stopped ? 'paused' : d.status)} ${d.status === 'done' ? '' : percent + '%'}</span>
        ${running ? `<button data-action="pause" data-version="${d.versionId}">Pause</button>` : ''}
        ${stopped || d.status === 'failed' ? `<button data-action="resume" data-version="${d.versionId}">Resume</button>` : ''}
        ${d.status !== 'done' ? `<button data-action="cancel" data-version="${d.versionId}">Cancel</button>` : ''}
        <span class="hub-meta">${esc(d.path || '')} ${d.error && !stopped ? esc(d.error) : ''}</span></div>`;
    }).join('') : '<p class="hub-meta">No downloads yet.</p>';
    if (state.model && rows.some((d) => d.status === 'done' && !box.dataset['seen' + d.job])) {
      rows.forEach((d) => { if (d.status === 'done') box.dataset['seen' + d.job] = '1'; });
      openModel(state.model.id);  // its files now show "on disk"
    }
  }

  async function refreshSync() {
    const box = document.getElementById('hub_sync_status');
    if (!box) return;
    const status = await api('/sync').catch(() => null);
    if (!status) return;
    const server = document.getElementById('hub_server');
    if (!server.value && status.server && document.activeElement !== server) server.value = status.server;
    const key = document.getElementById('hub_api_key');
    if (status.apiKey) key.placeholder = `API key saved (${status.apiKey})`;
    const last = status.lastSync ? new Date(status.lastSync * 1000).toLocaleString() : 'never';
    const job = status.job;
    let text = `Last sync: ${esc(last)}`;
    if (job && (job.status === 'running' || (job.status === 'pending' && !job.error)))
      text = `Syncing… ${status.progress.items ?? 0} items · ` + text;
    else if (job && job.error)
      text = `<span class="hub-offline">Offline: the hub server cannot be reached; browsing the local mirror.</span> ` + text;
    box.innerHTML = text;
    if (state.lastSync !== undefined && status.lastSync !== state.lastSync) state.synced.forEach((f) => f());
    state.lastSync = status.lastSync;
  }

  function showLocal(files) {
    document.getElementById('hub_local').innerHTML = files.map((f) => `
      <div class="hub-local-file ${f.linked ? 'hub-linked' : 'hub-unlinked'}">${esc(f.path.split('/').slice(-2).join('/'))}
        — ${f.linked ? `<b>${esc(f.model_name)}</b> / ${esc(f.version_name)}` : 'not in the catalog'}</div>`).join('');
  }

  setInterval(() => {
    const root = document.getElementById('hub_root');
    if (root && !root.dataset.ready) init(root);
  }, 300);
}
""".replace("%ACCOUNT_JS%", HUB_ACCOUNT_JS)
    .replace("%ACCOUNT_HTML%", HUB_ACCOUNT_HTML)
    .replace("%CSS%", json.dumps(HUB_CSS + HUB_ACCOUNT_CSS))
)


def build_hub_tab() -> gr.HTML:
    """The tab's container (HUB_JS, loaded with the page, fills it)."""
    return gr.HTML(HUB_HTML, elem_id="hub_tab_root")
