# azd postprovision: create the key that signs Faultline's issue markers, once. A key that
# changed would leave every existing issue unrecognised (and a lost state would then open a
# second issue), so an existing secret is never replaced. The deployer has Key Vault Secrets
# Officer on the vault; a new role assignment takes a few minutes to apply, so this waits.
$ErrorActionPreference = 'Stop'
$vault = $env:AZURE_KEY_VAULT_NAME
if (-not $vault) { throw 'run through azd, which sets AZURE_KEY_VAULT_NAME' }
$name = if ($env:FAULTLINE_MARKER_KEY_SECRET) { $env:FAULTLINE_MARKER_KEY_SECRET } else { 'marker-key' }
for ($attempt = 1; $attempt -le 20; $attempt++) {
  $answer = az keyvault secret show --vault-name $vault --name $name --query id -o tsv 2>&1 | Out-String
  if ($LASTEXITCODE -eq 0) {
    Write-Host "marker key: $name is in $vault already; left as it is"
    exit 0
  }
  if ($answer -match 'SecretNotFound') {
    $bytes = [System.Security.Cryptography.RandomNumberGenerator]::GetBytes(32)
    $key = -join ($bytes | ForEach-Object { $_.ToString('x2') })
    az keyvault secret set --vault-name $vault --name $name --value $key `
      --content-type 'Faultline marker key (HMAC-SHA256)' --output none
    if ($LASTEXITCODE -ne 0) { throw "could not create $name in $vault" }
    Write-Host "marker key: created $name in $vault"
    exit 0
  }
  Write-Host "marker key: no access to $vault yet ($attempt/20), waiting for the role assignment"
  Start-Sleep -Seconds 30
}
throw "marker key: could not read or create $name in ${vault}: $answer"
