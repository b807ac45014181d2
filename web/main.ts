import { mount } from 'svelte';
import App from './App.svelte';

// The per-launch token arrives in the URL fragment (never sent to the server, never in logs or
// Referer). Move it to sessionStorage and clean the address bar before anything renders.
const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
if (m?.[1]) {
  sessionStorage.setItem('tuf-rotate-token', m[1]);
  history.replaceState(null, '', location.pathname + location.search);
}

const target = document.getElementById('app');
if (!target) throw new Error('missing #app');
export default mount(App, { target });
