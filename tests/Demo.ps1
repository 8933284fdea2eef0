<#
.SYNOPSIS
    The README's demo (build.ps1 -Task Demo): starts the bundled mock mail server on a free
    loopback port, sends a message with Send-SmtpMessage over STARTTLS with authentication,
    and shows what the server received.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath
)

$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Add-Type -Path $MockServerPath

$server = [MockMail.MockServer]::new()
$server.Start()
try {
    Write-Host "Mock mail server listening on $($server.Host):$($server.SmtpPort) (STARTTLS, AUTH PLAIN LOGIN XOAUTH2)"
    $password = ConvertTo-SecureString $server.Users['alice'] -AsPlainText -Force
    $credential = [pscredential]::new('alice', $password)

    # The mock's certificate is self-signed, which is why the demo skips the certificate check.
    $send = @{
        SmtpServer           = $server.Host
        Port                 = $server.SmtpPort
        UseSsl               = $true
        Credential           = $credential
        SkipCertificateCheck = $true
        From                 = 'Demo Sender <demo@example.com>'
        To                   = 'ops@example.com'
        Subject              = 'Hello from MailProtocols ✉'
        Body                 = "This message went out with Send-SmtpMessage at $(Get-Date -Format o)."
    }
    Write-Host "`n> Send-SmtpMessage @send"
    $result = Send-SmtpMessage @send
    $result | Format-List MessageId, From, Accepted, Rejected, SmtpServer, Port, TlsProtocol, ServerResponse, Elapsed | Out-Host

    $session = $server.SmtpSessions[-1]
    $message = $server.Messages[-1]
    Write-Host 'What the server recorded:'
    [pscustomobject]@{
        EhloName      = $session.EhloName
        Tls           = "$($session.Tls) ($($session.TlsProtocol))"
        Authenticated = "$($session.AuthUser) via $($session.AuthMechanism)"
        MailFrom      = $message.MailFrom
        RcptTo        = $message.AcceptedRecipients -join ', '
        Bytes         = $message.Data.Length
    } | Format-List | Out-Host
    Write-Host '--- message as received ---'
    Write-Host $message.DataText
    Write-Host '---------------------------'
}
finally {
    $server.Stop()
}
