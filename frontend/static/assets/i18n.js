// Locale choice and string lookup for the console and the supervisor view.
// Static markup names its strings with data-i18n="key" (text) and
// data-i18n-attr="placeholder:key,aria-label:key" (attributes); apply()
// fills them in, and again whenever the locale changes.

export const LOCALES = ['zh-CN', 'en'];

/** normalize maps any language tag to one of LOCALES. */
export function normalize(tag) {
  return /^zh/i.test(tag || '') ? 'zh-CN' : 'en';
}

/**
 * createI18n returns {locale, t, set, apply, onChange}. The saved choice under
 * storageKey wins, then the browser's language.
 */
export function createI18n(dicts, storageKey) {
  let saved = null;
  try {
    saved = localStorage.getItem(storageKey);
  } catch {
    saved = null;
  }
  let locale = normalize(saved || navigator.language);
  const listeners = [];

  function t(key, vars) {
    const s = dicts[locale]?.[key] ?? dicts.en[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  }

  function apply(root = document) {
    document.documentElement.lang = locale;
    for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll('[data-i18n-attr]')) {
      for (const pair of el.dataset.i18nAttr.split(',')) {
        const [attr, key] = pair.split(':').map((x) => x.trim());
        el.setAttribute(attr, t(key));
      }
    }
  }

  function set(next) {
    locale = normalize(next);
    try {
      localStorage.setItem(storageKey, locale);
    } catch {
      /* storage may be off; the choice lasts for this page */
    }
    apply();
    for (const fn of listeners) fn(locale);
  }

  return {
    get locale() {
      return locale;
    },
    t,
    set,
    apply,
    onChange: (fn) => listeners.push(fn),
  };
}
