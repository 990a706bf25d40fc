// The vault that holds the GitHub credential. RBAC mode: no access policies, so who may read the
// secret is decided by role assignments alone (the app's identity gets Key Vault Secrets User).

@description('Name of the Key Vault (3-24 letters, digits and hyphens).')
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Name of the secret that holds the GitHub token.')
param githubTokenSecretName string

@secure()
@description('The GitHub token to store now; leave empty to set the secret yourself after deployment (an existing secret is then left alone).')
param githubToken string = ''

@description('When the GitHub token expires, as an ISO 8601 date-time; recorded on the secret so the vault can warn before it lapses.')
param githubTokenExpiry string

@description('Turn on purge protection (irreversible once on). A deleted vault then stays soft-deleted, unpurgeable, for softDeleteRetentionInDays, and its name cannot be reused until then. Off only for throwaway environments.')
param enablePurgeProtection bool = true

// Soft-deleted vaults and secrets are kept this long (7 is the minimum Key Vault allows; the value is
// fixed when the vault is created). With purge protection, it is also how long the name of a
// deleted vault stays taken.
var softDeleteRetentionInDays = 7

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:No virtual network in this template, so the vault cannot be closed to the Flex Consumption app's outbound addresses; access is by Entra ID identity and RBAC role only.
  // checkov:skip=CKV_AZURE_189:Public network access stays on for the same reason (see CKV_AZURE_109).
  // checkov:skip=CKV_AZURE_110:False positive: purge protection is on unless enablePurgeProtection is set false (default true); checkov does not evaluate the `? true : null` below, which Key Vault needs because it refuses false.
  // checkov:skip=CKV_AZURE_42:False positive for the same reason as CKV_AZURE_110: soft delete and (by default) purge protection are both on.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Key Vault accepts only true or nothing here: false is refused, and once on it stays on.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource githubTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(githubToken)) {
  // checkov:skip=CKV_AZURE_41:False positive: exp is set below, but checkov does not look inside a conditional (`if`) resource.
  // checkov:skip=CKV_AZURE_114:False positive: contentType is set below, but checkov does not look inside a conditional (`if`) resource.
  parent: vault
  name: githubTokenSecretName
  properties: {
    value: githubToken
    contentType: 'text/plain; GitHub token'
    attributes: {
      enabled: true
      exp: dateTimeToEpoch(githubTokenExpiry)
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
