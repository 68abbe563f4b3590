package channel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/framebridge/framebridge/channel"
	"github.com/framebridge/framebridge/frames/fb"
)

func Example() {
	dir, _ := os.MkdirTemp("", "channel-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "echo.sock")

	l, err := channel.Listen(path, channel.ListenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go l.Serve(context.Background(), func(ctx context.Context, req *fb.Envelope, reply *channel.Reply) error {
		reply.Sequence = req.Sequence()
		reply.Raw = channel.RawData(req) // echoed; the response is built in place after we return
		return nil
	})

	c, err := channel.Dial(context.Background(), path, channel.DialOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	err = c.Call(context.Background(), &channel.Request{Sequence: 7, Raw: []byte("hello")}, func(env *fb.Envelope) error {
		fmt.Printf("%d %s\n", env.Sequence(), channel.RawData(env))
		return nil
	})
	fmt.Println(err)
	// Output:
	// 7 hello
	// <nil>
}
