"""The page's own CSS and the small script that installs it with the keyboard shortcuts.

Gradio 6 takes css/js at `launch()` or `mount_gradio_app()`, which the composition root calls;
so the UI installs its style and shortcuts itself from a page-load event (`BOOT_JS`) and works
however it is mounted.
"""

from __future__ import annotations

import json

from studio.ui import prompt_tools_js

CSS = (
    prompt_tools_js.CSS
    + """
.atelier-status { font-size: 0.85em; opacity: 0.85; display: flex; gap: 1.5em; flex-wrap: wrap;
  padding: 0.25em 0.5em; }
.atelier-status b { font-weight: 600; }
.atelier-progress { position: relative; height: 1.6em; border-radius: 6px; overflow: hidden;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.atelier-progress .bar { position: absolute; inset: 0 auto 0 0; background: var(--color-accent);
  opacity: 0.55; transition: width 0.3s ease; }
.atelier-progress .text { position: relative; padding: 0 0.6em; line-height: 1.6em;
  font-size: 0.85em; white-space: nowrap; }
.atelier-progress-idle { min-height: 1.6em; font-size: 0.85em; opacity: 0.7; }
.atelier-error { color: var(--error-text-color, #c00); }
.atelier-warnings { margin: 0.3em 0 0 0; padding-left: 1.2em; font-size: 0.85em;
  color: var(--color-accent, #b60); }
.atelier-runtime { margin: 0.2em 0 0 0; font-size: 0.8em; opacity: 0.7; }
.atelier-tool { max-width: 5.5em !important; min-width: 4.5em !important; padding: 0 0.4em !important;
  font-size: 0.85em !important; }
.atelier-generate { min-height: 3.2em; font-size: 1.1em !important; }
.atelier-token-counter-box { min-height: 0 !important; margin-top: -2.6em !important;
  margin-right: 1.4em !important; z-index: 2; pointer-events: none; }
.atelier-token-counter { display: block; text-align: right; font-size: 0.8em; opacity: 0.7; }
/* Narrow screens (phones): the output column comes first, right under Generate. */
@media (max-width: 768px) {
  .atelier-main { flex-direction: column-reverse !important; }
  .atelier-main > div { min-width: 100% !important; }
}
"""
)

_BOOT = r"""
() => {
  if (window.__atelierBooted) return;
  window.__atelierBooted = true;
  const style = document.createElement('style');
  style.id = 'atelier-style';
  style.textContent = %CSS%;
  document.head.appendChild(style);
  const visible = (el) => el && el.offsetParent !== null;
  document.addEventListener('keydown', (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.key !== 'Enter') return;
    const buttons = [...document.querySelectorAll('button.atelier-generate')].filter(visible);
    if (!buttons.length) return;
    event.preventDefault();
    // Let the textbox push its latest value before the click reads the form.
    if (document.activeElement) document.activeElement.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => buttons[0].click(), 50);
  });
  // The tab's title carries the progress ("[45%] Atelier"); a finished job may notify.
  let baseTitle = document.title.replace(/^\[[^\]]*\] /, '');
  let following = false;
  const notify = () => {
    document.body.dataset.notified = String(Number(document.body.dataset.notified || 0) + 1);
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      gain.gain.value = 0.1;
      tone.frequency.value = 880;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.25);
    } catch (error) { /* no audio output: the notification is enough */ }
    if (window.Notification && Notification.permission === 'granted' && document.hidden) {
      new Notification(baseTitle, {body: 'Generation finished'});
    }
  };
  setInterval(() => {
    const active = document.querySelector(
      '.atelier-progress[data-state=running], .atelier-progress[data-state=queued]');
    if (active) {
      if (!following) baseTitle = document.title.replace(/^\[[^\]]*\] /, '');
      following = true;
      const label = active.dataset.state === 'queued' ? 'Queued' : `${active.dataset.progress || 0}%`;
      document.title = `[${label}] ${baseTitle}`;
    } else if (following) {
      following = false;
      document.title = baseTitle;
      if (localStorage.getItem('atelier-notify') === '1') notify();
    }
  }, 300);
%PROMPT_TOOLS%
}
"""

BOOT_JS = _BOOT.replace("%CSS%", json.dumps(CSS)).replace("%PROMPT_TOOLS%", prompt_tools_js.JS)

COPY_TEXT_JS = """
(text) => {
  if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  return text;
}
"""
