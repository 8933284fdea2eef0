# Dot-sourced by the Test-SmtpConnection and Test-Pop3Connection tests: what both probes must do
# alike, asserted once.

function Assert-TlsNoneRowRefused {
    # Pipes two rows to the probe under -QuitAfter Tls: the first, TlsMode None, must be that
    # row's own QuitAfterNeedsInput error (the row its target) and connect nowhere; the second,
    # StartTls, must still be probed. $ConnectionCount reads the mock's count for the protocol.
    param(
        [string] $Command,
        [string] $ServerProperty,
        $Mock,
        [int] $Port,
        [scriptblock] $ConnectionCount
    )
    $rows = @(
        [pscustomobject]@{ $ServerProperty = $Mock.Host; Port = $Port; TlsMode = 'None' }
        [pscustomobject]@{ $ServerProperty = $Mock.Host; Port = $Port; TlsMode = 'StartTls' }
    )
    $results = @($rows | & $Command -QuitAfter Tls -SkipCertificateCheck -TimeoutSec 5 -ErrorVariable errors -ErrorAction SilentlyContinue)
    $null = $Mock.WaitForIdle(5000)

    $errors.Count | Should -Be 1
    $errors[0].FullyQualifiedErrorId | Should -Be "QuitAfterNeedsInput,MailProtocols.Commands.$($Command -replace '-', '')Command"
    $errors[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    [object]::ReferenceEquals($errors[0].TargetObject, $rows[0]) | Should -BeTrue -Because 'the target is the refused row'
    $results.Count | Should -Be 1
    $results[0].Success | Should -BeTrue
    $results[0].Tls.Method | Should -Be 'StartTls'
    & $ConnectionCount | Should -Be 1 -Because 'the refused row connected nowhere'
}

function Assert-Tls11Named {
    # Probes, from a child whose OpenSSL allows TLS 1.1, a server that speaks only TLS 1.0/1.1:
    # the probe succeeds and says that TLS 1.1 is retired.
    param(
        [string] $Command,
        [string] $ServerParameter,
        [int] $Port,
        [string] $OpensslConf,
        [string] $ModulePath
    )
    $probe = Start-Child -Environment @{ OPENSSL_CONF = $OpensslConf } -Command @"
Import-Module '$ModulePath'
`$r = $Command -$ServerParameter 127.0.0.1 -Port $Port -SkipCertificateCheck -TimeoutSec 10
'RESULT ' + (@{ Success = `$r.Success; Protocol = `$r.Tls.Protocol; Hint = `$r.Hint } | ConvertTo-Json -Compress)
"@
    $r = Read-ChildLine $probe 'RESULT ' | ConvertFrom-Json
    $null = $probe.WaitForExit(30000)

    $r.Success | Should -BeTrue
    $r.Protocol | Should -Be 'Tls11'
    $r.Hint | Should -Match 'Only TLS 1\.1 was negotiated: TLS 1\.0 and 1\.1 are retired'
}
