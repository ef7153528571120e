"""The browser side of the prompt tools, installed with the page's boot script (`assets.BOOT_JS`).

- Extra Networks cards (`extra_networks.py`): a click puts the card's text at the prompt's
  cursor (A1111's separator: one space), its negative text at the end of the negative prompt; an
  embedding or wildcard goes to whichever prompt box was used last; a checkpoint card writes its
  title into the tab's hidden select box, which the server turns into the picker's value.
- The card search box filters the cards as you type (every word must appear), with a style
  rule, so cards drawn later are filtered too.
- Ctrl+Up / Ctrl+Down in a prompt box changes the weight of the selection, as A1111's
  edit-attention does: with nothing selected it takes the `<...>` or `(...)` around the cursor,
  else the word; plain text becomes `(text:1.1)`; `(...)` steps by 0.1 and drops the brackets
  at 1; `<lora:name:w>` steps by 0.05.
"""

CSS = """
.atelier-hidden { display: none !important; }
.atelier-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 0.6em;
  max-height: 430px; overflow-y: auto; padding: 0.3em; }
.atelier-card { cursor: pointer; border: 1px solid var(--border-color-primary); border-radius: 8px;
  overflow: hidden; background: var(--block-background-fill); font-size: 0.85em; display: flex;
  flex-direction: column; }
.atelier-card:hover, .atelier-card:focus { border-color: var(--color-accent); outline: none; }
.atelier-card img, .atelier-card-blank { width: 100%; aspect-ratio: 1 / 1; object-fit: cover; display: block; }
.atelier-card-blank { display: flex; align-items: center; justify-content: center; font-size: 2em;
  opacity: 0.35; background: var(--background-fill-secondary); }
.atelier-card-name { font-weight: 600; padding: 0.3em 0.45em 0.1em; word-break: break-word; }
.atelier-card-weight { padding: 0 0.45em; font-size: 0.85em; opacity: 0.8; }
.atelier-card-weight::before { content: "weight "; }
.atelier-card-words { padding: 0 0.45em 0.35em; opacity: 0.75; font-size: 0.9em; word-break: break-word; }
.atelier-cards-empty { opacity: 0.7; padding: 0.6em; }
"""

JS = r"""
  const lastPrompt = {};
  const promptBox = (tab, negative) =>
    document.querySelector(`#${tab}_${negative ? 'negative_prompt' : 'prompt'} textarea`);
  const commit = (box) => box.dispatchEvent(new Event('input', {bubbles: true}));
  document.addEventListener('focusin', (event) => {
    const holder = event.target.closest && event.target.closest('.atelier-prompt');
    if (!holder || event.target.tagName !== 'TEXTAREA') return;
    event.target.dataset.atelierUsed = '1';
    lastPrompt[holder.id.replace(/_(negative_)?prompt$/, '')] = event.target;
  });
  const insertText = (box, text, atEnd) => {
    const value = box.value;
    const used = !atEnd && box.dataset.atelierUsed === '1';
    const start = used ? box.selectionStart : value.length;
    const end = used ? box.selectionEnd : value.length;
    const before = value.slice(0, start), after = value.slice(end);
    const lead = before && !/\s$/.test(before) ? ' ' : '';
    const trail = after && !/^\s/.test(after) ? ' ' : '';
    box.value = before + lead + text + trail + after;
    const caret = (before + lead + text).length;
    box.setSelectionRange(caret, caret);
    commit(box);
  };
  const useCard = (card) => {
    const tab = card.dataset.tab, kind = card.dataset.kind;
    if (kind === 'checkpoint') {
      const box = document.querySelector(`#${tab}_network_select textarea, #${tab}_network_select input`);
      // a new value every click (the title, then a counter line), so the server sees a change
      if (box) { box.value = `${card.dataset.title}\n${Date.now()}`; commit(box); }
      return;
    }
    let box = promptBox(tab, false);
    if (kind !== 'lora' && lastPrompt[tab] && document.contains(lastPrompt[tab])) box = lastPrompt[tab];
    if (box && card.dataset.prompt) insertText(box, card.dataset.prompt, false);
    const negative = promptBox(tab, true);
    if (negative && card.dataset.negative) insertText(negative, card.dataset.negative, true);
  };
  document.addEventListener('click', (event) => {
    const card = event.target.closest && event.target.closest('.atelier-card');
    if (card) useCard(card);
  });
  document.addEventListener('keydown', (event) => {
    const card = event.target.closest && event.target.closest('.atelier-card');
    if (card && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); useCard(card); }
  });

  // A style rule per tab hides the cards missing a word: it holds for cards Gradio renders later
  // (tabs are drawn on first visit) and for cards a Refresh brings.
  const filterCards = (holder) => {
    const input = holder.querySelector('textarea, input');
    const tab = holder.id.replace(/_network_search$/, '');
    const words = (input ? input.value : '').toLowerCase().split(/\s+/).filter(Boolean);
    let rule = document.getElementById(`atelier-card-filter-${tab}`);
    if (!rule) {
      rule = document.createElement('style');
      rule.id = `atelier-card-filter-${tab}`;
      document.head.appendChild(rule);
    }
    const missing = words.map((word) => `:not([data-search*=${JSON.stringify(word)}])`).join('');
    rule.textContent = words.length ? `#${tab}_extra_networks .atelier-card${missing} { display: none; }` : '';
  };
  document.addEventListener('input', (event) => {
    const holder = event.target.closest && event.target.closest('.atelier-network-search');
    if (holder) filterCards(holder);
  });

  const DELIMITERS = '.,\\/!?%^*;:{}=`~() \r\n\t';
  document.addEventListener('keydown', (event) => {
    const box = event.target;
    if (box.tagName !== 'TEXTAREA' || !box.closest('.atelier-prompt')) return;
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
    const up = event.key === 'ArrowUp';
    if (!up && event.key !== 'ArrowDown') return;
    let text = box.value, start = box.selectionStart, end = box.selectionEnd;
    const enclosing = (open, close) => {
      if (start !== end) return false;
      const before = text.slice(0, start);
      let openAt = before.lastIndexOf(open), closeAt = before.lastIndexOf(close);
      if (openAt === -1) return false;
      while (closeAt !== -1 && closeAt > openAt) {
        openAt = before.lastIndexOf(open, openAt - 1);
        closeAt = before.lastIndexOf(close, closeAt - 1);
      }
      const after = text.slice(start);
      let closeAfter = after.indexOf(close), openAfter = after.indexOf(open);
      if (closeAfter === -1) return false;
      while (openAfter !== -1 && closeAfter > openAfter) {
        closeAfter = after.indexOf(close, closeAfter + 1);
        openAfter = after.indexOf(open, openAfter + 1);
      }
      if (openAt === -1 || closeAfter === -1) return false;
      const colon = text.slice(openAt + 1, start + closeAfter).lastIndexOf(':');
      if (colon === -1) return false;
      start = openAt + 1;
      end = start + colon;
      return true;
    };
    if (!enclosing('<', '>') && !enclosing('(', ')') && start === end) {
      while (start > 0 && !DELIMITERS.includes(text[start - 1])) start--;
      while (end < text.length && !DELIMITERS.includes(text[end])) end++;
    }
    event.preventDefault();
    let close = ')', delta = 0.1;
    if (start > 0 && text[start - 1] === '<') {
      close = '>';
      delta = 0.05;
    } else if (start === 0 || text[start - 1] !== '(') {
      while (end > start && text[end - 1] === ' ') end--;
      if (start === end) return;
      text = text.slice(0, start) + '(' + text.slice(start, end) + ':1.0)' + text.slice(end);
      start += 1;
      end += 1;
    }
    const length = text.slice(end + 1).indexOf(close) + 1;
    let weight = parseFloat(text.slice(end + 1, end + 1 + length));
    if (isNaN(weight)) return;
    weight = parseFloat((weight + (up ? delta : -delta)).toPrecision(12));
    let shown = String(weight);
    if (shown.length === 1) shown += '.0';
    if (close === ')' && weight === 1) {
      const closeAt = text.slice(end).indexOf(')');
      text = text.slice(0, start - 1) + text.slice(start, end) + text.slice(end + closeAt + 1);
      start -= 1;
      end -= 1;
    } else {
      text = text.slice(0, end + 1) + shown + text.slice(end + length);
    }
    box.focus();
    box.value = text;
    box.setSelectionRange(start, end);
    commit(box);
  });
"""
