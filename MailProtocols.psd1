@{
    # The one source of the version: build.ps1 reads it and passes it to the compiler.
    ModuleVersion        = '0.1.0'
    RootModule           = 'MailProtocols.psm1'
    GUID                 = 'a3609247-53b2-4fe8-9382-ed82341b357e'
    Author               = 'MailProtocols contributors'
    CompanyName          = 'MailProtocols'
    Copyright            = '(c) MailProtocols contributors. MIT License.'
    Description          = 'Send mail over SMTP and read and delete mail over POP3, with secure defaults and real pipeline objects. A successor to Send-MailMessage, built on MailKit.'
    CompatiblePSEditions = @('Core', 'Desktop')
    PowerShellVersion    = '5.1'
    FormatsToProcess     = @('MailProtocols.format.ps1xml')
    CmdletsToExport      = @('Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message', 'Test-SmtpConnection', 'Test-Pop3Connection', 'Import-MailMessage', 'Save-MailAttachment')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('SMTP', 'POP3', 'Email', 'Mail', 'MailKit', 'Send-MailMessage', 'PSEdition_Core', 'PSEdition_Desktop', 'Linux', 'Windows', 'MacOS')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'Send-SmtpMessage: a Send-MailMessage replacement with TLS by default, OAuth2, pipeline sending over one connection, and safe retries.'
        }
    }
}
