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

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:No virtual network in this template, so the vault cannot be closed to the Flex Consumption app's outbound addresses; access is by Entra ID identity and RBAC role only.
  // checkov:skip=CKV_AZURE_189:Public network access stays on for the same reason (see CKV_AZURE_109).
  // checkov:skip=CKV_AZURE_110:Purge protection is irreversible and would block `azd down --purge` and redeploying the environment for the retention period; the vault holds one GitHub token, which can be reissued. Soft delete is on.
  // checkov:skip=CKV_AZURE_42:Recoverability here means purge protection as well; see CKV_AZURE_110. Soft delete (7 days) is on.
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
    softDeleteRetentionInDays: 7
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
