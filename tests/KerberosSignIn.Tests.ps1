# Signing in as the current logon (-UseDefaultCredentials, Kerberos over SASL GSSAPI) against a
# throwaway MIT realm (tests/TestTools/Kerberos.ps1): the client runs as a user would, in a child
# pwsh whose KRB5_CONFIG and KRB5CCNAME name the realm and the ticket kinit put there; the mock
# verifies the ticket with the realm's service keytab. Where the Kerberos packages cannot be
# installed, every test here is skipped with the reason.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'TestTools/Kerberos.ps1')
    $script:noRealm = $null
    try {
        $script:realm = New-KerberosRealm
        Write-Host "Kerberos realm set up in $([math]::Round($realm.SetupSeconds, 1)) s (package install $([math]::Round($realm.InstallSeconds, 1)) s)."
    }
    catch {
        $script:noRealm = $_.Exception.Message
        Write-Warning "Kerberos tests skipped: $noRealm"
    }

    function Skip-WithoutRealm {
        if ($noRealm) { Set-ItResult -Skipped -Because $noRealm }
        [bool]$noRealm
    }
}

AfterAll {
    Remove-KerberosRealm $realm
}

Describe 'The test realm' -Tag 'Kerberos' {
    It 'gives the client a ticket in a private cache, from files outside /etc' {
        if (Skip-WithoutRealm) { return }
        $realm.Environment.KRB5_CONFIG | Should -BeLike "$($realm.Directory)*"
        $realm.Environment.KRB5_KDC_PROFILE | Should -BeLike "$($realm.Directory)*"
        $list = Invoke-KerberosTool $realm klist @()
        $list | Should -Match ([regex]::Escape("Default principal: $($realm.ClientPrincipal)"))
        $list | Should -Match 'krbtgt/MAILTEST.INVALID@MAILTEST.INVALID'
        (Invoke-KerberosTool $realm klist @('-k', $realm.ServiceKeytab)) | Should -Match 'smtp/localhost@MAILTEST.INVALID[\s\S]*pop/localhost@MAILTEST.INVALID'
    }

    It 'is gone after the teardown: KDC stopped, folder deleted' {
        if (Skip-WithoutRealm) { return }
        $other = New-KerberosRealm
        $other.Process.HasExited | Should -BeFalse
        Remove-KerberosRealm $other
        $other.Process.HasExited | Should -BeTrue
        Test-Path $other.Directory | Should -BeFalse
    }
}
