import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.rehearsal/', 'coverage/', 'reports/', '.stryker-tmp/', '**/*.js', '!jest.config.js', '!test/support/*.js', '!service/console/public/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Operational and developer scripts talk to a terminal.
    files: ['scripts/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tool configuration files run in Node.
    files: ['*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    // The admin console runs in the browser, as an ES module (service/console/public).
    files: ['service/console/public/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'sessionStorage', 'fetch', 'Node', 'URLSearchParams', 'Intl', 'requestAnimationFrame'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['jest.config.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } },
  },
  {
    // jest's own plug-ins (environment, reporter): CommonJS loaded by jest in Node.
    files: ['test/support/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', process: 'readonly', queueMicrotask: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
