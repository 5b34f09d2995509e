// Attention for a background tab: a short beep (WebAudio, no sound file)
// and a flashing title, plus on-page toasts.

import { h } from '/assets/dom.js';

let audio = null;
let flashTimer = 0;
let baseTitle = document.title;

/** unlockAudio creates the audio context during a user gesture, as browsers require. */
export function unlockAudio() {
  if (audio) return;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    audio = new Ctx();
  } catch {
    audio = null;
  }
}

/** beep plays two short tones. */
export function beep() {
  if (!audio) return;
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  const t0 = audio.currentTime;
  [880, 1320].forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const start = t0 + i * 0.16;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.14);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.15);
  });
}

/** inBackground: the tab is hidden or the window is not focused. */
export function inBackground() {
  return document.hidden || !document.hasFocus();
}

/** setBaseTitle is the title shown when nothing flashes. */
export function setBaseTitle(title) {
  baseTitle = title;
  if (!flashTimer) document.title = title;
}

/** flashTitle alternates the title with text until the tab is looked at again. */
export function flashTitle(text) {
  stopFlash();
  let on = false;
  flashTimer = setInterval(() => {
    on = !on;
    document.title = on ? `● ${text}` : baseTitle;
  }, 900);
  document.title = `● ${text}`;
}

export function stopFlash() {
  clearInterval(flashTimer);
  flashTimer = 0;
  document.title = baseTitle;
}

/** attention beeps and flashes the title when the tab is in the background. */
export function attention(text) {
  if (!inBackground()) return;
  beep();
  flashTitle(text);
}

window.addEventListener('focus', stopFlash);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) stopFlash();
});

/** toast shows a short note in the corner for a few seconds. */
export function toast(text, kind = '') {
  const area = document.getElementById('toasts');
  if (!area) return;
  const el = h('div', { class: `toast ${kind}`, text });
  area.appendChild(el);
  setTimeout(() => el.remove(), kind === 'whisper' ? 12000 : 6000);
}
