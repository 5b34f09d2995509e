// The demo shop: a product list, a product page and a cart, with hash
// routing. As the shopper browses it tells the chat widget what they look at
// through Daogou.setContext, which the agent sees beside the conversation.

import { h, replace } from '/assets/dom.js';

const EN = document.documentElement.lang === 'en';
const L = (zh, en) => (EN ? en : zh);
const CART_KEY = 'daogou-demo-cart';

const PRODUCTS = [
  { id: 'celadon-cups', name: L('青瓷茶杯套装（4只）', 'Celadon tea cups, set of 4'), price: 168, art: ['#7fb8a4', '#e8f3ee', 'cups'],
    desc: L('龙泉青瓷，釉色温润，每只 120 ml，适合功夫茶。可用洗碗机清洗。', 'Longquan celadon with a soft glaze, 120 ml each, made for gongfu tea. Dishwasher safe.') },
  { id: 'bamboo-basket', name: L('手编竹收纳篮', 'Hand-woven bamboo basket'), price: 89, art: ['#c49a5a', '#f7efe2', 'basket'],
    desc: L('安吉毛竹手工编织，直径 28 cm，放水果、面包或杂物都合适。', 'Woven by hand from Anji bamboo, 28 cm across, for fruit, bread or odds and ends.') },
  { id: 'silk-scarf', name: L('桑蚕丝方巾', 'Mulberry silk scarf'), price: 299, art: ['#b8426b', '#fbe9ef', 'scarf'],
    desc: L('16 姆米重磅真丝，90×90 cm，手工卷边，附礼盒。', '16 momme silk, 90 × 90 cm, hand-rolled edges, in a gift box.') },
  { id: 'soap-box', name: L('手工皂礼盒（3块）', 'Handmade soap gift box (3 bars)'), price: 129, art: ['#8c7ab8', '#f1eef9', 'soap'],
    desc: L('冷制工艺，薰衣草、茶树、燕麦三种香型，敏感肌可用。', 'Cold-process lavender, tea tree and oat bars, gentle on sensitive skin.') },
  { id: 'wool-throw', name: L('羊毛格纹盖毯', 'Checked wool throw'), price: 459, art: ['#9a3412', '#fdf0e6', 'throw'],
    desc: L('新西兰羊毛，130×170 cm，柔软不扎，可干洗。', 'New Zealand wool, 130 × 170 cm, soft and never scratchy, dry clean.') },
  { id: 'iron-teapot', name: L('铸铁提梁茶壶', 'Cast-iron teapot'), price: 388, art: ['#374151', '#eceef1', 'pot'],
    desc: L('内壁珐琅，容量 0.9 L，适用于明火与电陶炉。', 'Enamelled inside, 0.9 L, for gas and ceramic hobs.') },
];

const money = (n) => (EN ? `CNY ${n.toFixed(2)}` : `¥${n.toFixed(2)}`);

/** art draws a product picture as an inline SVG (no image files). */
function art([ink, paper, kind], size = 220) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 200 200');
  svg.setAttribute('width', size);
  svg.setAttribute('height', size);
  svg.setAttribute('role', 'img');
  const add = (tag, attrs) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.appendChild(el);
    return el;
  };
  add('rect', { width: 200, height: 200, rx: 18, fill: paper });
  add('ellipse', { cx: 100, cy: 168, rx: 70, ry: 10, fill: '#00000014' });
  const shapes = {
    cups: () => {
      for (const x of [40, 80, 120, 160]) {
        add('path', { d: `M${x - 16} 110 h32 l-4 40 a6 6 0 0 1 -6 5 h-12 a6 6 0 0 1 -6 -5 z`, fill: ink });
        add('ellipse', { cx: x, cy: 110, rx: 16, ry: 4, fill: '#ffffff88' });
      }
    },
    basket: () => {
      add('path', { d: 'M40 90 h120 l-14 70 h-92 z', fill: ink });
      for (let y = 100; y < 160; y += 12) add('line', { x1: 44, y1: y, x2: 156, y2: y, stroke: '#ffffff66', 'stroke-width': 3 });
      add('path', { d: 'M60 90 q40 -60 80 0', fill: 'none', stroke: ink, 'stroke-width': 7 });
    },
    scarf: () => {
      add('path', { d: 'M50 50 h100 v100 h-100 z', fill: ink, transform: 'rotate(12 100 100)' });
      add('path', { d: 'M65 65 h70 v70 h-70 z', fill: 'none', stroke: '#ffffffaa', 'stroke-width': 3, transform: 'rotate(12 100 100)' });
      add('circle', { cx: 100, cy: 100, r: 14, fill: '#ffffffaa' });
    },
    soap: () => {
      add('rect', { x: 40, y: 80, width: 120, height: 80, rx: 8, fill: '#ffffff', stroke: ink, 'stroke-width': 4 });
      for (const [x, c] of [[52, ink], [88, '#c9b8e8'], [124, '#a993d6']]) add('rect', { x, y: 100, width: 28, height: 44, rx: 6, fill: c });
      add('path', { d: 'M100 80 v-20 m-14 6 q14 -16 28 0', fill: 'none', stroke: ink, 'stroke-width': 4 });
    },
    throw: () => {
      add('rect', { x: 40, y: 50, width: 120, height: 110, rx: 6, fill: ink });
      for (let i = 60; i < 160; i += 22) {
        add('line', { x1: i, y1: 50, x2: i, y2: 160, stroke: '#fde6d4', 'stroke-width': 4 });
        add('line', { x1: 40, y1: i - 5, x2: 160, y2: i - 5, stroke: '#fde6d4', 'stroke-width': 2 });
      }
    },
    pot: () => {
      add('ellipse', { cx: 100, cy: 120, rx: 52, ry: 40, fill: ink });
      add('path', { d: 'M148 112 l28 -16 l-4 10 l-22 16 z', fill: ink });
      add('path', { d: 'M62 92 q38 -60 76 0', fill: 'none', stroke: ink, 'stroke-width': 7 });
      add('rect', { x: 88, y: 74, width: 24, height: 10, rx: 4, fill: '#6b7280' });
    },
  };
  shapes[kind]?.();
  return svg;
}

// ---- cart ------------------------------------------------------------------------

function loadCart() {
  try {
    return JSON.parse(localStorage.getItem(CART_KEY)) || {};
  } catch {
    return {};
  }
}
let cart = loadCart();
function saveCart() {
  localStorage.setItem(CART_KEY, JSON.stringify(cart));
  document.getElementById('cart-count').textContent = String(Object.values(cart).reduce((a, b) => a + b, 0));
}
const cartLines = () =>
  Object.entries(cart)
    .map(([id, qty]) => ({ p: PRODUCTS.find((x) => x.id === id), qty }))
    .filter((x) => x.p && x.qty > 0);
const cartTotal = () => cartLines().reduce((s, x) => s + x.p.price * x.qty, 0);

/** cartContext is what the agent sees of the cart. */
function cartContext() {
  const items = cartLines().map(({ p, qty }) => ({ id: p.id, name: p.name, qty, price: p.price }));
  return { items, count: items.reduce((s, x) => s + x.qty, 0), total: cartTotal(), currency: 'CNY' };
}

function addToCart(id, qty = 1) {
  cart[id] = (cart[id] || 0) + qty;
  if (cart[id] <= 0) delete cart[id];
  saveCart();
}

// ---- pages -----------------------------------------------------------------------

const main = () => document.getElementById('main');

function tell(page, product) {
  window.Daogou.setContext({
    page: { name: page, url: location.href, title: document.title },
    product: product ? { id: product.id, name: product.name, price: product.price, currency: 'CNY', url: `${location.origin}${location.pathname}#/product/${product.id}` } : null,
    cart: cartContext(),
  });
}

function homePage() {
  document.title = L('青山杂货铺 · 演示商店', 'Green Hill Goods · Demo shop');
  replace(
    main(),
    h('section', { class: 'hero' }, h('h1', { text: L('慢生活好物', 'Good things for slow days') }), h('p', { text: L('全场满 299 包邮 · 7 天无理由退换', 'Free delivery over CNY 299 · 7-day returns') })),
    h(
      'ul',
      { class: 'grid', 'aria-label': L('商品', 'Products') },
      PRODUCTS.map((p) =>
        h(
          'li',
          { class: 'card' },
          h('a', { href: `#/product/${p.id}`, class: 'card-link', dataset: { product: p.id } }, art(p.art, 180), h('span', { class: 'name', text: p.name })),
          h('span', { class: 'price', text: money(p.price) }),
          h('button', { class: 'btn', type: 'button', onclick: () => { addToCart(p.id); tell('home', null); }, text: L('加入购物车', 'Add to cart') }),
        ),
      ),
    ),
  );
  tell('home', null);
}

function productPage(id) {
  const p = PRODUCTS.find((x) => x.id === id);
  if (!p) return homePage();
  document.title = `${p.name} · ${L('青山杂货铺', 'Green Hill Goods')}`;
  let qty = 1;
  const qtyOut = h('output', { id: 'qty', text: '1', 'aria-live': 'polite' });
  replace(
    main(),
    h('p', { class: 'crumbs' }, h('a', { href: '#/', text: L('全部商品', 'All products') }), ' / ', p.name),
    h(
      'article',
      { class: 'detail' },
      art(p.art, 320),
      h(
        'div',
        {},
        h('h1', { text: p.name }),
        h('p', { class: 'price big', text: money(p.price) }),
        h('p', { text: p.desc }),
        h(
          'div',
          { class: 'qty', role: 'group', 'aria-label': L('数量', 'Quantity') },
          h('button', { class: 'btn', type: 'button', 'aria-label': L('减少', 'Fewer'), onclick: () => { qty = Math.max(1, qty - 1); qtyOut.textContent = String(qty); }, text: '−' }),
          qtyOut,
          h('button', { class: 'btn', type: 'button', 'aria-label': L('增加', 'More'), onclick: () => { qty = Math.min(9, qty + 1); qtyOut.textContent = String(qty); }, text: '+' }),
        ),
        h(
          'div',
          { class: 'actions' },
          h('button', { class: 'btn primary', type: 'button', id: 'add-to-cart', onclick: () => { addToCart(p.id, qty); tell('product', p); }, text: L('加入购物车', 'Add to cart') }),
          h('button', { class: 'btn', type: 'button', id: 'ask', onclick: () => window.Daogou.open(), text: L('咨询导购', 'Ask an assistant') }),
        ),
        h('ul', { class: 'perks' }, h('li', { text: L('现货 · 48 小时内发货', 'In stock · ships within 48 h') }), h('li', { text: L('支持 7 天无理由退换', '7-day no-questions returns') })),
      ),
    ),
  );
  tell('product', p);
}

function cartPage() {
  document.title = `${L('购物车', 'Cart')} · ${L('青山杂货铺', 'Green Hill Goods')}`;
  const lines = cartLines();
  replace(
    main(),
    h('h1', { text: L('购物车', 'Cart') }),
    lines.length
      ? h(
          'table',
          { class: 'cart' },
          h('thead', {}, h('tr', {}, [L('商品', 'Product'), L('单价', 'Price'), L('数量', 'Qty'), L('小计', 'Subtotal'), ''].map((x) => h('th', { scope: 'col', text: x })))),
          h(
            'tbody',
            {},
            lines.map(({ p, qty }) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/product/${p.id}`, text: p.name })),
                h('td', { text: money(p.price) }),
                h('td', { text: String(qty) }),
                h('td', { text: money(p.price * qty) }),
                h('td', {}, h('button', { class: 'btn', type: 'button', 'aria-label': `${L('移除', 'Remove')} ${p.name}`, onclick: () => { addToCart(p.id, -qty); cartPage(); }, text: L('移除', 'Remove') })),
              ),
            ),
          ),
          h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: '3', text: L('合计', 'Total') }), h('td', { text: money(cartTotal()) }), h('td'))),
        )
      : h('p', { text: L('购物车是空的。', 'Your cart is empty.') }),
    h(
      'div',
      { class: 'actions' },
      h('a', { class: 'btn', href: '#/', text: L('继续逛逛', 'Keep shopping') }),
      lines.length ? h('button', { class: 'btn primary', type: 'button', onclick: () => window.Daogou.open(), text: L('结算前问问导购', 'Questions before checkout?') }) : null,
    ),
  );
  tell('cart', null);
}

function route() {
  const [, page, arg] = location.hash.match(/^#\/(\w+)?\/?([\w-]+)?/) || [];
  if (page === 'product') productPage(arg);
  else if (page === 'cart') cartPage();
  else homePage();
  main().focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
saveCart();
route();
