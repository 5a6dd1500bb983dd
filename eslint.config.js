// One linter for the whole project, with type-aware rules: an un-awaited PostToConnection
// is lost when a Lambda freezes, so floating and misused promises are errors.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'client/dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The CloudFront Function is plain ES5-ish script for CloudFront's runtime, not a module.
    files: ['edge/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      globals: {},
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'no-unused-vars': ['error', { varsIgnorePattern: '^handler$' }],
    },
  },
  {
    files: ['*.js', '*.cjs', '.ci/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The docs' snippets import the packages as an app installs them: the package tests
    // type-check them there (test/package/), so here they are linted without types.
    files: ['docs/snippets/**'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', globalThis: 'readonly' },
    },
  },
);
