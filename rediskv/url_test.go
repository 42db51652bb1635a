package rediskv

import (
	"strings"
	"testing"
)

func TestParseClusterURL(t *testing.T) {
	o, err := ParseClusterURL("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001,redis-3:7002/?dial_timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Addrs) != 3 || o.Addrs[0] != "10.0.0.1:7000" || o.Addrs[2] != "redis-3:7002" || o.Password != "s3cret" || o.DialTimeout.Seconds() != 3 || o.TLSConfig != nil {
		t.Fatalf("options = %+v", o)
	}
	o, err = ParseClusterURL("rediss+cluster://user:pw@h1:6379")
	if err != nil || len(o.Addrs) != 1 || o.Username != "user" || o.TLSConfig == nil {
		t.Fatalf("tls: %+v %v", o, err)
	}
	for _, bad := range []string{"redis+cluster://", "redis+cluster://h1", "redis+cluster://h1:1,,h2:2", "redis+cluster://h1:1/3", "redis+cluster://:pw@h1:1?dial_timeout=soon"} {
		if _, err := ParseClusterURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if !IsClusterURL("redis+cluster://a:1") || IsClusterURL("redis://a:1") {
		t.Fatal("IsClusterURL")
	}
}
