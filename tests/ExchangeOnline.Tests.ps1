# What the cmdlets do where the server answers as Exchange Online does: its refusals of a
# sign-in (each with its own ErrorId and the one sentence that names the fix, from the engine's
# table in AuthenticationHints.cs).

BeforeDiscovery {
    # Mode: the mock's SmtpOptions.ExchangeAuthRefusal; Pop3: Pop3Options.ExchangeAuthRefusal instead.
    $refusals = @(
        @{ Case = 'SMTP AUTH off for the tenant, password'; Mode = 'SmtpAuthDisabledForTenant'; OAuth = $false
            ErrorId = 'SmtpAuthenticationDisabled'; Reply = '535 5.7.139'; Fix = 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false' }
        @{ Case = 'SMTP AUTH off for the mailbox, token'; Mode = 'SmtpAuthDisabledForMailbox'; OAuth = $true
            ErrorId = 'SmtpAuthenticationDisabled'; Reply = '535 5.7.139'; Fix = 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false' }
        @{ Case = 'Basic authentication retired, password'; Mode = 'BasicAuthNotSupported'; OAuth = $false
            ErrorId = 'BasicAuthenticationNotSupported'; Reply = '550 5.7.30'; Fix = 'SMTP.SendAsApp' }
        @{ Case = 'a token Exchange does not accept for the mailbox'; Mode = 'AuthenticationUnsuccessful'; OAuth = $true
            ErrorId = 'MailboxAccessNotGranted'; Reply = '535 5.7.3'; Fix = 'New-ServicePrincipal -AppId <client id> -ObjectId' }
        @{ Case = 'a password Exchange does not accept'; Mode = 'AuthenticationUnsuccessful'; OAuth = $false
            ErrorId = 'AuthenticationFailed'; Reply = '535 5.7.3'; Fix = 'send with OAuth2' }
        @{ Case = 'POP3: a token Exchange does not accept for the mailbox'; Pop3 = $true; OAuth = $true
            ErrorId = 'MailboxAccessNotGranted'; Reply = 'Authentication failure: unknown user name or bad password'; Fix = 'POP.AccessAsApp' }
    )
}

Describe 'Exchange Online refuses the sign-in' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $password = $mock.Users['alice']
        $token = $mock.OAuthTokens['alice']

        function Invoke-Refused {
            # The command for the case, with -ErrorAction SilentlyContinue; returns every record
            # it wrote to any stream, and its -ErrorVariable.
            param([bool] $OAuth, [bool] $Pop3)
            $auth = if ($OAuth) { @{ AccessToken = (ConvertTo-SecureString $token -AsPlainText -Force); UserName = 'alice' } }
            else { @{ Credential = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force)) } }
            $ev = $null
            $records = if ($Pop3) {
                Get-Pop3Message -Pop3Server $mock.Host -Port $mock.Pop3Port -SkipCertificateCheck @auth -ErrorAction SilentlyContinue -ErrorVariable ev *>&1
            }
            else {
                Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck @auth -From 'alice@example.com' -To 'bob@example.com' `
                    -Subject 'x' -ErrorAction SilentlyContinue -ErrorVariable ev *>&1
            }
            [pscustomobject]@{ Records = @($records); Errors = @($ev) }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $null = $mock.AddTestMessages('alice', 1)
    }

    Context '<Case>' -ForEach $refusals {
        BeforeEach {
            if ($Pop3) { $mock.Pop3.ExchangeAuthRefusal = $true } else { $mock.Smtp.ExchangeAuthRefusal = $Mode }
            $run = Invoke-Refused -OAuth $OAuth -Pop3 ([bool]$Pop3)
        }

        It 'writes one error with its own ErrorId, the category AuthenticationError and the user as target' {
            $run.Errors.Count | Should -Be 1
            $e = $run.Errors[0]
            $command = if ($Pop3) { 'GetPop3MessageCommand' } else { 'SendSmtpMessageCommand' }
            $e.FullyQualifiedErrorId | Should -Be "$ErrorId,MailProtocols.Commands.$command"
            $e.CategoryInfo.Category | Should -Be 'AuthenticationError'
            $e.TargetObject | Should -Be 'alice'
        }

        It 'quotes the server and names the fix in the message, without the secret' {
            $message = $run.Errors[0].Exception.Message
            $message | Should -BeLike "*$Reply*"
            $message | Should -BeLike "*$Fix*"
            $message | Should -Not -BeLike "*$password*"
            $message | Should -Not -BeLike "*$token*"
        }

        It 'prints nothing on any stream with -ErrorAction SilentlyContinue, and sends or deletes nothing' {
            $run.Records.Count | Should -Be 0
            $mock.Messages.Count | Should -Be 0
            $mock.GetMailbox('alice').Count | Should -Be 1
        }
    }

    It 'keeps the ordinary AuthenticationFailed, without an Exchange hint, for other refusals' {
        $run = Invoke-Refused -OAuth $false -Pop3 $false
        $run.Errors.Count | Should -Be 0 -Because 'the mock takes the right password when no refusal is set'
        $mock.Reset()
        $null = $mock.ReplyTo('AUTH', '', '535 5.7.8 Authentication credentials invalid', -1)
        $run = Invoke-Refused -OAuth $false -Pop3 $false
        $run.Errors[0].FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,MailProtocols.Commands.SendSmtpMessageCommand'
        $run.Errors[0].Exception.Message | Should -Not -Match 'OAuth2|Exchange'
    }
}
