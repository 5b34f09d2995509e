// The browser scenarios, run in order by run.mjs. Later scenarios build on
// the pages earlier ones opened (env.state); `needs` names the scenarios a
// scenario cannot run without.

import path from 'node:path';

const SHOPPER = 'Browser Test 李';
const SILENT = 'Silent Shopper';
const XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
const AGENT_XSS = '<b>bold?</b><script>window.__xss=3</script> see http://evil.example.com/deal';
const GREETING_DEADLINE_MS = 15000;

// ---- helpers ----------------------------------------------------------------

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** eventually retries fn until it stops throwing or the time is up. */
async function eventually(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last?.message || last}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** newPage opens a page in a fresh browser context (its own storage). */
async function newPage(env, { viewport = { width: 1280, height: 800 }, locale = 'zh-CN', mobile = false } = {}) {
  const context = await env.browser.newContext({ viewport, locale, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: 1 });
  return pageIn(env, context);
}

async function pageIn(env, context) {
  const page = await context.newPage();
  env.pages.push(page);
  env.errors = env.errors || [];
  page.on('pageerror', (e) => env.errors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function shot(env, page, name) {
  await page.screenshot({ path: path.join(env.shots, name) });
}

async function login(env, page, where, email) {
  await page.goto(`${env.base}/${where}`);
  await page.locator('#login-email').waitFor({ state: 'visible' });
  await page.fill('#login-email', email);
  await page.fill('#login-password', env.password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#conn[data-state=online]').waitFor({ timeout: 10000 });
}

async function openShop(env, page, hash = '') {
  await page.goto(`${env.base}/demo${hash}`);
  await page.waitForFunction(() => window.Daogou && window.Daogou.loaded === true);
}

const widget = (page, sel) => page.locator(`#daogou-widget ${sel}`);

/** widgetMessages lists what the widget shows, in order. */
function widgetMessages(page) {
  return page.evaluate(() => {
    const root = document.getElementById('daogou-widget')?.shadowRoot;
    if (!root) return [];
    return [...root.querySelectorAll('.log .m')].map((e) => ({
      seq: e.dataset.seq || '',
      mine: e.classList.contains('me'),
      pending: e.classList.contains('pending'),
      auto: e.classList.contains('auto'),
      text: e.querySelector('.b').textContent,
    }));
  });
}

async function sendFromWidget(page, text) {
  const input = widget(page, 'textarea');
  await input.fill(text);
  await input.press('Enter');
}

function seconds(text) {
  const m = /([+-]?\d+(?:\.\d+)?)\s*s/.exec(text || '');
  assert(m, `no seconds in ${JSON.stringify(text)}`);
  return parseFloat(m[1]);
}

// ---- scenarios ----------------------------------------------------------------

export const scenarios = [
  {
    id: 'auto-greeting',
    name: 'shopper on /demo opens the widget and is greeted at once when no agent is online',
    async run(env) {
      const page = await newPage(env);
      await openShop(env, page);
      const t0 = Date.now();
      await widget(page, '.launcher').click();
      await widget(page, '.panel').waitFor({ state: 'visible' });
      await eventually(
        async () => {
          const ms = await widgetMessages(page);
          assert(ms.some((m) => !m.mine && m.auto && m.text.trim()), 'no automatic greeting yet');
        },
        { timeout: GREETING_DEADLINE_MS + 2000, what: 'the automatic greeting' },
      );
      const took = Date.now() - t0;
      assert(took < GREETING_DEADLINE_MS, `greeted after ${took} ms, deadline ${GREETING_DEADLINE_MS} ms`);
      await widget(page, '.w[data-state=online]').waitFor();
      await shot(env, page, '01-widget-greeted.png');
    },
  },
  {
    id: 'phone',
    name: 'the widget fills a phone-sized screen, in English when the page asks for it',
    async run(env) {
      const page = await newPage(env, { viewport: { width: 390, height: 844 }, locale: 'en-US', mobile: true });
      await page.goto(`${env.base}/demo/en.html`);
      await page.waitForFunction(() => window.Daogou && window.Daogou.loaded === true);
      await widget(page, '.launcher').click();
      const panel = widget(page, '.panel');
      await panel.waitFor({ state: 'visible' });
      const box = await panel.boundingBox();
      assert(box && box.width >= 385 && box.height >= 800, `panel is ${JSON.stringify(box)} on a 390×844 screen`);
      const placeholder = await widget(page, 'textarea').getAttribute('placeholder');
      assert(placeholder === 'Type a message…', `placeholder ${JSON.stringify(placeholder)}`);
      await eventually(async () => assert((await widgetMessages(page)).some((m) => !m.mine), 'no greeting'), { what: 'a greeting', timeout: GREETING_DEADLINE_MS });
      await shot(env, page, '02-widget-phone.png');
      await page.context().close();
    },
  },
  {
    id: 'console-countdown',
    name: 'an agent in /console sees the new shopper with a ticking greeting countdown and the shopper context',
    async run(env) {
      const agent = await newPage(env, { locale: 'en-US' });
      await login(env, agent, 'console', 'agent1@demo.local');
      const sup = await newPage(env, { locale: 'en-US' });
      await login(env, sup, 'supervisor', 'supervisor@demo.local');
      const shopper = await newPage(env);
      await openShop(env, shopper, '#/product/silk-scarf');
      await shopper.evaluate((name) => window.Daogou.setUser({ name }), SHOPPER);
      await shopper.click('#ask');
      await widget(shopper, '.w[data-state=online]').waitFor();
      Object.assign(env.state, { agent, sup, shopper });

      const conv = agent.locator('#conv-items .conv', { hasText: SHOPPER });
      const chip = conv.locator('.chip[data-rule=greeting]');
      await chip.waitFor({ timeout: 10000 });
      const first = seconds(await chip.textContent());
      await agent.waitForTimeout(1300);
      const second = seconds(await chip.textContent());
      assert(second < first, `countdown did not tick: ${first} then ${second}`);
      assert(first <= 15 && first > 0, `greeting countdown starts at ${first} s`);
      await conv.locator('button.open').click();
      await eventually(
        async () => {
          const ctx = await agent.locator('#ctx-body').textContent();
          assert(ctx.includes('桑蚕丝方巾'), `context shows ${JSON.stringify(ctx.slice(0, 200))}`);
        },
        { what: 'the product in the shopper context' },
      );
      await shot(env, agent, '03-console-countdown.png');
    },
  },
  {
    id: 'supervisor',
    needs: ['console-countdown'],
    name: 'the supervisor sees the conversation, its agent and its running timer, and can watch it',
    async run(env) {
      const { sup } = env.state;
      const row = sup.locator('#convs-body tr', { hasText: SHOPPER });
      await row.waitFor({ timeout: 10000 });
      await row.locator('.chip[data-rule]').first().waitFor({ timeout: 10000 });
      const level = await row.getAttribute('data-level');
      assert(level !== null, 'row has no data-level');
      await row.getByRole('button').click();
      await sup.locator('#watch-view').waitFor({ state: 'visible' });
      await eventually(async () => assert((await sup.locator('#watch-who').textContent()).includes(SHOPPER), 'watch panel names another shopper'), {
        what: 'the watch panel',
      });
      const note = 'Offer free gift wrapping';
      await sup.fill('#whisper-text', note);
      await sup.press('#whisper-text', 'Enter');
      const { agent } = env.state;
      await agent.locator('#transcript .msg.whisper', { hasText: note }).waitFor({ timeout: 10000 });
      await shot(env, sup, '04-supervisor-live.png');
    },
  },
  {
    id: 'objection',
    needs: ['console-countdown'],
    name: 'the agent picks an objection script from the palette and sends it; the shopper sees it',
    async run(env) {
      const { agent, sup, shopper } = env.state;
      const question = '这条围巾有点贵，能便宜点吗？';
      // Typing shows on the other side, both ways.
      await widget(shopper, 'textarea').fill('这条围巾');
      await widget(shopper, 'textarea').press('Space');
      await eventually(async () => assert((await agent.locator('#typing').textContent()).includes(SHOPPER), 'no typing line'), { what: 'the shopper typing in the console' });
      await agent.fill('#composer-text', '');
      await agent.type('#composer-text', 'Let me');
      await eventually(async () => assert((await widget(shopper, '.typing').textContent()).trim().length > 0, 'no typing line'), { what: 'the agent typing in the widget' });
      await agent.fill('#composer-text', '');

      // The supervisor's row turns amber, then red, before the 3 s deadline passes.
      const levels = sup.evaluate(
        (name) =>
          new Promise((resolve) => {
            const seen = [];
            const t0 = Date.now();
            const timer = setInterval(() => {
              const row = [...document.querySelectorAll('#convs-body tr')].find((r) => r.textContent.includes(name));
              const chip = row?.querySelector('.chip[data-rule=first_response]');
              const level = chip ? `${chip.dataset.level}${row.dataset.level === chip.dataset.level ? '' : '!'}` : '';
              if (level && seen[seen.length - 1] !== level) seen.push(level);
              if (Date.now() - t0 > 4500) {
                clearInterval(timer);
                resolve(seen);
              }
            }, 40);
          }),
        SHOPPER,
      );
      await sendFromWidget(shopper, question);
      await agent.locator('#transcript .msg.shopper', { hasText: question }).waitFor({ timeout: 10000 });
      await agent.locator('#conv-items .conv', { hasText: SHOPPER }).locator('.chip[data-rule=first_response]').waitFor({ timeout: 5000 });
      await eventually(async () => assert((await widget(shopper, '.m.me .st').last().textContent()) === '已读', 'not marked read'), {
        what: 'the read receipt in the widget',
      });
      const seen = await levels;
      const at = (l) => seen.indexOf(l);
      assert(at('amber') >= 0 && at('red') > at('amber') && (at('over') < 0 || at('over') > at('red')), `supervisor row levels went ${seen.join(' → ')}`);

      await agent.click('#composer-text');
      await agent.keyboard.press('Control+k');
      await agent.locator('#palette[open]').waitFor();
      await agent.locator('#palette-list li').first().waitFor();
      await agent.selectOption('#palette-cat', 'objection');
      await agent.selectOption('#palette-kind', 'reasonable');
      const items = agent.locator('#palette-list li');
      await items.first().waitFor();
      const cats = await items.evaluateAll((els) => els.map((e) => `${e.dataset.category}/${e.dataset.kind}`));
      assert(cats.length > 0 && cats.every((c) => c === 'objection/reasonable'), `palette lists ${cats.join(', ')}`);
      await items.first().click();
      const text = await agent.inputValue('#palette-text');
      assert(text.trim().length > 0, 'the script has no text');
      assert(!/\{(shopper_name|agent_name|shop_name)\}/.test(text), `placeholders left unfilled: ${text}`);
      await shot(env, agent, '05-console-palette.png');
      await agent.click('#palette-send');
      await agent.locator('#palette[open]').waitFor({ state: 'detached' }).catch(() => {});
      await agent.locator('#transcript .msg.agent[data-kind=script]').first().waitFor({ timeout: 10000 });
      await eventually(async () => assert((await agent.locator('#transcript .msg.agent[data-kind=script] .receipt').first().textContent()).includes('Read'), 'not read'), {
        what: 'the read receipt in the console',
      });

      const expect = text.split('{')[0].trim();
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.some((m) => !m.mine && !m.auto && m.text.startsWith(expect)), `widget shows ${JSON.stringify(ms.map((m) => m.text))}`);
        },
        { what: 'the script in the widget' },
      );
      await sup.locator('#watch-log .msg.agent').first().waitFor({ timeout: 10000 });
      await shopper.waitForTimeout(300);
      await shot(env, shopper, '06-widget-objection-reply.png');
    },
  },
  {
    id: 'reload',
    needs: ['objection'],
    name: 'a reload of the widget page loses nothing and shows nothing twice, also what arrived while away',
    async run(env) {
      const { agent } = env.state;
      let shopper = env.state.shopper;
      const before = (await widgetMessages(shopper)).filter((m) => !m.pending);
      assert(before.length >= 2, `only ${before.length} messages before the reload`);
      await shopper.reload();
      await shopper.waitForFunction(() => window.Daogou && window.Daogou.loaded === true);
      await widget(shopper, '.w[data-state=online]').waitFor({ timeout: 10000 });
      await eventually(async () => assert((await widgetMessages(shopper)).length >= before.length, 'history not back yet'), { what: 'the history' });
      await shopper.waitForTimeout(1500); // let any replay arrive: nothing may show twice
      const after = await widgetMessages(shopper);
      assert(JSON.stringify(after) === JSON.stringify(before), `after reload:\n${JSON.stringify(after)}\nbefore:\n${JSON.stringify(before)}`);

      // Close the tab, let the agent write, come back: the message is there once.
      const context = shopper.context();
      await shopper.close();
      const away = `While you were away: the scarf ships today (${Date.now() % 10000})`;
      await agent.fill('#composer-text', away);
      await agent.press('#composer-text', 'Enter');
      await agent.locator('#transcript .msg.agent:not(.pending)', { hasText: away }).waitFor({ timeout: 10000 });
      shopper = await pageIn(env, context);
      env.state.shopper = shopper;
      await openShop(env, shopper);
      await widget(shopper, '.w[data-state=online]').waitFor({ timeout: 10000 });
      await widget(shopper, '.badge:not([hidden])').waitFor({ timeout: 10000 });
      await widget(shopper, '.launcher').click();
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.filter((m) => m.text === away).length === 1, `the missed message shows ${ms.filter((m) => m.text === away).length} times`);
          assert(JSON.stringify(ms.slice(0, before.length)) === JSON.stringify(before), 'earlier history changed');
          const seqs = ms.map((m) => m.seq);
          assert(new Set(seqs).size === seqs.length, `duplicate seqs ${seqs}`);
        },
        { what: 'the missed message, once' },
      );
      await shot(env, shopper, '07-widget-after-reload.png');
    },
  },
  {
    id: 'script-as-text',
    needs: ['objection'],
    name: 'a <script> sent as a message shows as text on both sides and never runs; foreign links are marked',
    async run(env) {
      const { agent } = env.state;
      const shopper = env.state.shopper;
      if (!(await widget(shopper, '.panel').isVisible())) await widget(shopper, '.launcher').click();
      await sendFromWidget(shopper, XSS);
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.some((m) => m.mine && !m.pending && m.text === XSS), 'the widget does not show the text as sent');
        },
        { what: 'the shopper text in the widget' },
      );
      const bubble = agent.locator('#transcript .msg.shopper .bubble', { hasText: 'window.__xss=1' });
      await bubble.waitFor({ timeout: 10000 });
      assert((await bubble.textContent()) === XSS, `console shows ${JSON.stringify(await bubble.textContent())}`);

      await agent.fill('#composer-text', AGENT_XSS);
      await agent.press('#composer-text', 'Enter');
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.some((m) => !m.mine && m.text.startsWith('<b>bold?</b><script>window.__xss=3</script> see http://evil.example.com/deal')), 'agent text not shown as text');
        },
        { what: "the agent's text in the widget" },
      );
      const mark = await widget(shopper, '.ext').last().textContent();
      assert(mark.includes('evil.example.com'), `warning mark reads ${JSON.stringify(mark)}`);
      for (const p of [shopper, agent]) {
        const ran = await p.evaluate(() => window.__xss);
        assert(ran === undefined, `script ran on ${p.url()}: __xss=${ran}`);
      }
      const injected = await shopper.evaluate(() => document.getElementById('daogou-widget').shadowRoot.querySelectorAll('.log script, .log img, .log b').length);
      assert(injected === 0, `${injected} elements were made from message text in the widget`);
      const injectedConsole = await agent.evaluate(() => document.querySelectorAll('#transcript script, #transcript img, #transcript b').length);
      assert(injectedConsole === 0, `${injectedConsole} elements were made from message text in the console`);
      await shot(env, shopper, '08-widget-script-as-text.png');
      await shot(env, agent, '09-console-script-as-text.png');
    },
  },
  {
    id: 'silent-agent',
    needs: ['console-countdown'],
    name: 'with an agent online but silent, the server greets the shopper before the deadline and the console shows the badge',
    async run(env) {
      const { agent } = env.state;
      const page = await newPage(env);
      await openShop(env, page);
      await page.evaluate((name) => window.Daogou.setUser({ name }), SILENT);
      const t0 = Date.now();
      await page.evaluate(() => window.Daogou.open());
      await agent.locator('#conv-items .conv', { hasText: SILENT }).locator('.chip[data-rule=greeting]').waitFor({ timeout: 10000 });
      await eventually(
        async () => {
          const ms = await widgetMessages(page);
          assert(ms.some((m) => !m.mine && m.auto), 'no automatic greeting yet');
        },
        { timeout: GREETING_DEADLINE_MS + 2000, interval: 250, what: 'the automatic greeting' },
      );
      const took = Date.now() - t0;
      assert(took < GREETING_DEADLINE_MS, `greeted after ${took} ms`);
      const conv = agent.locator('#conv-items .conv', { hasText: SILENT });
      await conv.locator('[data-action=auto_greeting]').waitFor({ timeout: 5000 });
      await conv.locator('button.open').click();
      await agent.locator('#transcript .msg.system[data-auto="1"]').first().waitFor({ timeout: 5000 });
      await shot(env, agent, '10-console-auto-greeting-badge.png');
    },
  },
  {
    id: 'close',
    needs: ['objection'],
    name: 'the agent closes with an outcome, the matching farewell is offered first, and the shopper sees the end',
    async run(env) {
      const { agent, sup, shopper } = env.state;
      await agent.locator('#conv-items .conv', { hasText: SHOPPER }).locator('button.open').click();
      await agent.click('#btn-close');
      await agent.locator('#close-dialog[open]').waitFor();
      await agent.check('#close-form input[value=not_purchased]');
      await agent.check('#close-form input[value=purchased]');
      const box = agent.locator('#close-farewell');
      await eventually(async () => assert((await box.inputValue()).trim().length > 0, 'no farewell offered'), { what: 'the farewell' });
      const farewell = await box.inputValue();
      await shot(env, agent, '11-console-close-farewell.png');
      await agent.click('#close-with');
      const expect = farewell.split('{')[0].trim();
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.some((m) => !m.mine && m.text.startsWith(expect)), 'the farewell has not reached the widget');
        },
        { what: 'the farewell in the widget' },
      );
      await widget(shopper, '.end').waitFor({ timeout: 10000 });
      await agent.locator('#chat-closed').waitFor({ state: 'visible' });
      await eventually(async () => assert((await sup.locator('#convs-body tr', { hasText: SHOPPER }).count()) === 0, 'row still listed'), {
        what: 'the closed conversation to leave the supervisor table',
      });
      await shot(env, shopper, '12-widget-ended.png');

      // The shopper starts again: a new conversation, greeted afresh.
      await widget(shopper, '.end button').click();
      await agent.locator('#conv-items .conv:not(.closed)', { hasText: SHOPPER }).waitFor({ timeout: 10000 });
      await eventually(
        async () => {
          assert((await widget(shopper, '.end').count()) === 0, 'the end notice is still shown');
          assert((await widgetMessages(shopper)).every((m) => !m.text.startsWith(expect)), 'the old transcript is still shown');
          assert(!(await widget(shopper, 'textarea').isDisabled()), 'the composer is disabled');
        },
        { what: 'a fresh conversation in the widget' },
      );
    },
  },
  {
    id: 'transfer',
    needs: ['silent-agent'],
    name: 'the agent transfers a conversation to another agent, the supervisor reassigns it back; it moves between consoles',
    async run(env) {
      const { agent } = env.state;
      const agent2 = await newPage(env, { locale: 'zh-CN' });
      await login(env, agent2, 'console', 'agent2@demo.local');
      await agent.locator('#conv-items .conv', { hasText: SILENT }).locator('button.open').click();
      await agent.click('#btn-transfer');
      await agent.locator('#transfer-dialog[open]').waitFor();
      // Agents may list the other agents only where the server allows it;
      // otherwise the console offers a transfer to a skill group.
      if (await agent.locator('#transfer-agent-row').isVisible()) {
        await agent.check('#transfer-form input[name=mode][value=agent]');
      } else {
        await agent.fill('#transfer-skill', 'zh-CN');
        await agent.check('#transfer-form input[name=mode][value=skill]');
      }
      await agent.click('#transfer-form button[value=ok]');
      await agent2.locator('#conv-items .conv', { hasText: SILENT }).waitFor({ timeout: 10000 });
      await eventually(async () => assert((await agent.locator('#conv-items .conv', { hasText: SILENT }).count()) === 0, 'still listed for the first agent'), {
        what: 'the conversation to leave the first console',
      });
      await agent2.locator('#conv-items .conv', { hasText: SILENT }).locator('button.open').click();
      await shot(env, agent2, '13-console-transferred-zh.png');

      // The supervisor reassigns it back to the first agent.
      const { sup } = env.state;
      await sup.locator('#convs-body tr', { hasText: SILENT }).getByRole('button').click();
      await eventually(async () => assert((await sup.locator('#watch-who').textContent()).includes(SILENT), 'not watching it'), { what: 'the watch panel' });
      await eventually(async () => assert(await sup.locator('#reassign-agent option').first().getAttribute('value'), 'no agent to pick'), { what: 'an agent to reassign to' });
      await sup.click('#reassign-form button[type=submit]');
      await agent.locator('#conv-items .conv', { hasText: SILENT }).waitFor({ timeout: 10000 });
      await eventually(async () => assert((await agent2.locator('#conv-items .conv', { hasText: SILENT }).count()) === 0, 'still with the second agent'), {
        what: 'the conversation to leave the second console',
      });
    },
  },
  {
    id: 'keyboard',
    needs: ['console-countdown'],
    name: 'Alt+Down moves to the next conversation in the console',
    async run(env) {
      const { agent } = env.state;
      const current = () => agent.locator('#conv-items .conv[aria-current=true]').getAttribute('data-id');
      for (const d of await agent.locator('dialog[open]').all()) await d.evaluate((el) => el.close());
      await agent.locator('#conv-items .conv').nth(1).waitFor();
      const before = await current();
      await agent.click('#composer-text');
      await agent.keyboard.press('Alt+ArrowDown');
      await eventually(async () => assert((await current()) !== before, 'selection did not move'), { what: 'the next conversation' });
      await shot(env, agent, '14-console-keyboard.png');
    },
  },
  {
    id: 'restart',
    needs: ['close'],
    name: 'after a server restart the widget and the console reconnect and resume, with nothing lost or doubled',
    async run(env) {
      const { agent, shopper } = env.state;
      await agent.locator('#conv-items .conv:not(.closed)', { hasText: SHOPPER }).locator('button.open').click();
      const hello = 'Is the teapot in stock?';
      await sendFromWidget(shopper, hello);
      await agent.locator('#transcript .msg.shopper', { hasText: hello }).waitFor({ timeout: 10000 });
      await env.stopServer();
      await widget(shopper, '.w[data-state=reconnecting], .w[data-state=connecting]').waitFor({ timeout: 10000 });
      await widget(shopper, '.bar[role=status]:not([hidden])').first().waitFor();
      await shot(env, shopper, '15-widget-reconnecting.png');
      await agent.locator('#conn[data-state=reconnecting], #conn[data-state=connecting]').waitFor({ timeout: 10000 });
      await env.startServer();
      await widget(shopper, '.w[data-state=online]').waitFor({ timeout: 20000 });
      await agent.locator('#conn[data-state=online]').waitFor({ timeout: 20000 });
      const answer = 'Yes, the cast-iron teapot ships today.';
      await agent.fill('#composer-text', answer);
      await agent.press('#composer-text', 'Enter');
      await eventually(
        async () => {
          const ms = await widgetMessages(shopper);
          assert(ms.filter((m) => m.text === hello).length === 1, `the question shows ${ms.filter((m) => m.text === hello).length} times`);
          assert(ms.filter((m) => m.text === answer).length === 1, 'the answer is not shown once');
          const seqs = ms.map((m) => m.seq);
          assert(new Set(seqs).size === seqs.length, `duplicate seqs ${seqs}`);
        },
        { what: 'the answer after the restart', timeout: 15000 },
      );
      await shot(env, shopper, '16-widget-after-restart.png');
    },
  },
  {
    id: 'no-errors',
    name: 'no page raised a JavaScript error',
    async run(env) {
      const errors = env.errors || [];
      assert(errors.length === 0, `JavaScript errors:\n${errors.join('\n')}`);
    },
  },
];
