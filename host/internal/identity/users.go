package identity

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Account lookups are cached: every call names its caller (by uid) and
// every start looks its account up (by name, with its groups and shell),
// and reading and parsing /etc/passwd and /etc/group each time was a
// measurable share of a start. An entry holds while both files are
// unchanged (by stat) and for at most usersTTL, for accounts that come
// from elsewhere (NSS) when the C library looks them up.
const usersTTL = 10 * time.Second

type usersCache struct {
	mu       sync.Mutex
	stamp    string // the account files' identity when the entries were made
	made     time.Time
	accounts map[string]*Account
	callers  map[[2]uint32]Caller
}

var users = &usersCache{}

// accountFilesStamp identifies the account files' current contents.
func accountFilesStamp() string {
	s := ""
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
		}
	}
	return s
}

// freshLocked empties the cache if it may be stale.
func (c *usersCache) freshLocked() {
	stamp := accountFilesStamp()
	if stamp != c.stamp || time.Since(c.made) > usersTTL || c.accounts == nil {
		c.stamp, c.made = stamp, time.Now()
		c.accounts, c.callers = map[string]*Account{}, map[[2]uint32]Caller{}
	}
}

func (c *usersCache) account(name string, look func(string) (*Account, error)) (*Account, error) {
	c.mu.Lock()
	c.freshLocked()
	a, ok := c.accounts[name]
	c.mu.Unlock()
	if ok {
		cp := *a
		return &cp, nil
	}
	a, err := look(name)
	if err != nil {
		return nil, err // not cached: a user made next may be there
	}
	c.mu.Lock()
	c.accounts[name] = a
	c.mu.Unlock()
	cp := *a
	return &cp, nil
}

func (c *usersCache) caller(uid, gid uint32, look func(uint32, uint32) Caller) Caller {
	k := [2]uint32{uid, gid}
	c.mu.Lock()
	c.freshLocked()
	v, ok := c.callers[k]
	c.mu.Unlock()
	if ok {
		return v
	}
	v = look(uid, gid)
	c.mu.Lock()
	c.callers[k] = v
	c.mu.Unlock()
	return v
}
