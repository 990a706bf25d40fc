#!/bin/sh
# azd postprovision: create the key that signs Faultline's issue markers, once. A key that
# changed would leave every existing issue unrecognised (and a lost state would then open a
# second issue), so an existing secret is never replaced. The deployer has Key Vault Secrets
# Officer on the vault; a new role assignment takes a few minutes to apply, so this waits.
set -eu
vault="${AZURE_KEY_VAULT_NAME:?run through azd, which sets AZURE_KEY_VAULT_NAME}"
name="${FAULTLINE_MARKER_KEY_SECRET:-marker-key}"
attempt=1
while [ "$attempt" -le 20 ]; do
  if answer=$(az keyvault secret show --vault-name "$vault" --name "$name" --query id -o tsv 2>&1); then
    echo "marker key: $name is in $vault already; left as it is"
    exit 0
  fi
  case "$answer" in
    *SecretNotFound*)
      key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
      az keyvault secret set --vault-name "$vault" --name "$name" --value "$key" \
        --content-type "Faultline marker key (HMAC-SHA256)" --output none
      echo "marker key: created $name in $vault"
      exit 0
      ;;
  esac
  echo "marker key: no access to $vault yet ($attempt/20), waiting for the role assignment"
  attempt=$((attempt + 1))
  sleep "${FAULTLINE_HOOK_RETRY_SECONDS:-30}"
done
echo "marker key: could not read or create $name in $vault: $answer" >&2
exit 1
