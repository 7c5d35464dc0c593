export const DASHBOARD_HTML = '<!doctype html><title>Tributary</title>';
