"""The Hub tab's account part (JavaScript put inside `HUB_JS`, sharing its `api`, `post` and
`esc`): the wallet (balance and history as of the last sync, tip a creator), the shop (buy,
owned cosmetics, equip), the outbox of actions made offline (state, error, retry) and the
notifications; and, on every page, what `/studio/v1/hub/status` says: the unread count as a
badge on the Hub tab, the pending actions on the Outbox button, and a change of the files in
models/ (a download done, a scan that found new files), after which the checkpoint and VAE
dropdowns and the Extra Networks cards are refreshed by themselves.
"""

from __future__ import annotations

HUB_ACCOUNT_CSS = """
.hub-badge { display: inline-block; min-width: 1.4em; margin-left: 0.4em; padding: 0 0.4em; border-radius: 999px;
  background: #c62828; color: #fff; font-size: 0.75em; font-weight: 700; text-align: center; }
#hub_account table { font-size: 0.85em; border-collapse: collapse; margin-top: 0.4em; }
#hub_account td, #hub_account th { padding: 0.2em 0.6em; border-bottom: 1px solid var(--border-color-primary); text-align: left; }
.hub-state-pending { color: #b26a00; } .hub-state-done { color: #2e7d32; } .hub-state-refused { color: #c62828; }
"""

# The account row of the Hub tab (inside init's markup).
HUB_ACCOUNT_HTML = """
      <h3>Account</h3>
      <div class="hub-row"><button id="hub_wallet_button">Wallet</button><button id="hub_shop_button">Shop</button>
        <button id="hub_outbox_button">Outbox</button><button id="hub_notifications_button">Notifications</button>
        <span id="hub_account_hint" class="hub-meta"></span></div>
      <div id="hub_account"></div>"""

HUB_ACCOUNT_JS = """
  // -- every page: the badge, the outbox count, model lists refreshed when models/ changes --
  const REFRESH_BUTTONS = ['txt2img_refresh_models', 'img2img_refresh_models',
                           'txt2img_network_refresh', 'img2img_network_refresh'];
  const seen = {modelsVersion: null, stale: new Set()};
  async function pollStatus() {
    const status = await api('/status').catch(() => null);
    if (!status) return;
    const tab = document.getElementById('tab_hub-button');
    if (tab) {
      let badge = tab.querySelector('.hub-badge');
      if (!badge) {
        badge = document.createElement('span');
        badge.className = 'hub-badge';
        badge.id = 'hub_badge';
        tab.appendChild(badge);
      }
      badge.textContent = status.unread ? String(status.unread) : '';
      badge.style.display = status.unread ? '' : 'none';
      badge.title = `${status.unread} unread notification(s)`;
    }
    const outboxButton = document.getElementById('hub_outbox_button');
    if (outboxButton) outboxButton.textContent = status.outboxPending ? `Outbox (${status.outboxPending} pending)` : 'Outbox';
    if (seen.modelsVersion !== null && status.modelsVersion !== seen.modelsVersion) {
      REFRESH_BUTTONS.forEach((id) => seen.stale.add(id));
    }
    seen.modelsVersion = status.modelsVersion;
    // a refresh button Gradio has not drawn yet (a closed accordion, a tab never opened) is
    // clicked as soon as it is there
    for (const id of [...seen.stale]) {
      const button = document.getElementById(id);
      if (button) { button.click(); seen.stale.delete(id); }
    }
  }
  pollStatus();
  setInterval(pollStatus, 1500);

  // -- the Hub tab's account panels --
  function initAccount() {
    const $ = (id) => document.getElementById(id);
    const box = $('hub_account');
    const fail = (error) => { box.innerHTML = `<p class="atelier-error">${esc(error.message)}</p>`; };
    const when = (value) => value ? new Date(typeof value === 'number' ? value * 1000 : value).toLocaleString() : '';
    const noKey = '<p class="hub-meta">Save your API key in Settings → Hub (or above) and sync to see your account.</p>';

    async function showWallet() {
      try {
        const w = await api('/wallet');
        box.innerHTML = `<div id="hub_wallet"><b>Balance: <span id="hub_balance">${w.balance ?? '—'}</span> Buzz</b>
          <span class="hub-meta">as of the last sync${w.pendingTips ? ` · ${w.pendingTips} Buzz in tips waiting to be sent` : ''}</span>
          ${w.hasApiKey ? '' : noKey}
          <div class="hub-row"><input id="hub_tip_to" placeholder="creator's username" size="14">
            <input id="hub_tip_amount" type="number" min="1" placeholder="Buzz" style="width: 6em">
            <input id="hub_tip_memo" placeholder="memo (optional)" size="18">
            <button id="hub_tip_send">Tip</button><span id="hub_tip_message"></span></div>
          <table id="hub_history"><tr><th>When</th><th>Change</th><th>Kind</th><th>From → to</th><th>Memo</th></tr>
          ${w.history.map((t) => `<tr><td>${esc(when(t.createdAt))}</td><td>${t.change > 0 ? '+' : ''}${t.change ?? t.amount}</td>
            <td>${esc(t.kind)}</td><td>${esc(t.from || '—')} → ${esc(t.to || '—')}</td><td>${esc(t.memo)}</td></tr>`).join('')}</table></div>`;
        $('hub_tip_send').onclick = async () => {
          try {
            await post('/wallet/tips', {to: $('hub_tip_to').value, amount: +$('hub_tip_amount').value || 0,
                                        memo: $('hub_tip_memo').value});
            $('hub_tip_message').textContent = 'Queued: sent with the next sync (see Outbox).';
            pollStatus();
          } catch (error) {
            $('hub_tip_message').innerHTML = `<span class="atelier-error">${esc(error.message)}</span>`;
          }
        };
      } catch (error) { fail(error); }
    }

    async function showShop() {
      try {
        const shop = await api('/shop');
        const owned = new Map(shop.owned.map((item) => [item.id, item]));
        box.innerHTML = `<div id="hub_shop">${shop.hasApiKey ? '' : noKey}
          ${shop.sections.length ? '' : '<p class="hub-meta">No shop in the mirror yet (sync first).</p>'}
          ${shop.sections.map((section) => `<h4>${esc(section.name)}</h4><table>${section.items.map((item) => `
            <tr class="hub-shop-item" data-item="${item.id}"><td>${esc(item.name)}</td><td class="hub-meta">${esc(item.kind)}</td>
            <td>${item.price} Buzz</td><td>${owned.has(item.id) ? '<span class="hub-owned">Owned</span>'
              : `<button class="hub-buy" data-item="${item.id}">Buy</button>`}</td></tr>`).join('')}</table>`).join('')}
          <h4>Owned cosmetics</h4><table id="hub_owned">${shop.owned.length ? shop.owned.map((item) => `
            <tr class="hub-owned-item" data-item="${item.id}"><td>${esc(item.name)}</td><td class="hub-meta">${esc(item.kind)}</td>
            <td>${item.equipped ? '<b>Equipped</b>' : ''}</td><td><button class="hub-equip" data-item="${item.id}"
              data-equipped="${item.equipped ? 1 : 0}">${item.equipped ? 'Unequip' : 'Equip'}</button></td></tr>`).join('')
            : '<tr><td class="hub-meta">None yet.</td></tr>'}</table><div id="hub_shop_message"></div></div>`;
      } catch (error) { fail(error); }
    }

    async function showOutbox() {
      try {
        const entries = await api('/outbox');
        const what = (e) => e.kind === 'tip' ? `Tip ${e.payload.amount} Buzz to ${e.payload.to}` : `Buy ${e.itemName || 'shop item ' + e.payload.itemId}`;
        box.innerHTML = `<div id="hub_outbox"><p class="hub-meta">Actions made here wait in the outbox and are sent,
          once each, by the next sync.</p>${entries.length ? `<table><tr><th>#</th><th>Action</th><th>State</th><th>Tries</th><th></th></tr>
          ${entries.map((e) => `<tr class="hub-outbox-entry" data-entry="${e.id}" data-state="${e.state}"><td>${e.id}</td>
            <td>${esc(what(e))}<div class="hub-meta">${esc(when(e.createdAt))}</div></td>
            <td class="hub-state-${e.state}">${esc(e.state)}${e.error ? `<div class="hub-meta">${esc(e.error)}</div>` : ''}</td>
            <td>${e.attempts}</td><td>${e.state === 'done' ? '' : `<button class="hub-retry" data-entry="${e.id}">${
              e.state === 'refused' ? 'Retry' : 'Send now'}</button>`}</td></tr>`).join('')}</table>`
          : '<p class="hub-meta">Nothing waiting.</p>'}<div id="hub_outbox_message"></div></div>`;
        pollStatus();  // the button's pending count follows
      } catch (error) { fail(error); }
    }

    async function showNotifications() {
      try {
        const found = await api('/notifications');
        box.innerHTML = `<div id="hub_notifications"><b>${found.unread} unread</b> <span class="hub-meta">as of the last sync</span>
          ${found.items.length ? found.items.map((n) => `<div class="hub-item hub-notification">${esc(n.type || n.category || '')} ·
            ${esc((n.details && n.details.message) || n.message || n.title || '')} <span class="hub-meta">${esc(when(n.createdAt))}</span></div>`).join('')
          : '<p class="hub-meta">No notifications in the mirror (sync with an API key).</p>'}</div>`;
      } catch (error) { fail(error); }
    }

    state.synced.push(() => {  // an open panel shows what the sync brought
      if ($('hub_outbox')) showOutbox();
      else if ($('hub_wallet')) showWallet();
      else if ($('hub_shop')) showShop();
      else if ($('hub_notifications')) showNotifications();
    });
    $('hub_wallet_button').onclick = showWallet;
    $('hub_shop_button').onclick = showShop;
    $('hub_outbox_button').onclick = showOutbox;
    $('hub_notifications_button').onclick = showNotifications;
    box.onclick = async (event) => {
      const button = event.target.closest('button');
      if (!button) return;
      if (button.classList.contains('hub-buy')) {
        button.disabled = true;
        try {
          await post(`/shop/${button.dataset.item}/buy`);
          button.replaceWith(Object.assign(document.createElement('span'), {className: 'hub-queued',
            textContent: 'Queued (sent with the next sync)'}));
          pollStatus();
        } catch (error) { alert(error.message); button.disabled = false; }
      } else if (button.classList.contains('hub-equip')) {
        const method = button.dataset.equipped === '1' ? 'DELETE' : 'PUT';
        try { await api(`/shop/${button.dataset.item}/equip`, {method}); showShop(); }
        catch (error) { $('hub_shop_message').innerHTML = `<span class="atelier-error">${esc(error.message)}</span>`; }
      } else if (button.classList.contains('hub-retry')) {
        try {
          await post(`/outbox/${button.dataset.entry}/retry`);
          await showOutbox();
          $('hub_outbox_message').textContent = 'Sending with a sync now…';
        } catch (error) { $('hub_outbox_message').innerHTML = `<span class="atelier-error">${esc(error.message)}</span>`; }
      }
    };
  }
"""
